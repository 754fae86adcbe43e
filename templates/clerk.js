// Progressive enhancement only; every form works without it.
// Drag and drop onto the upload form: the first image is the front, the second the back.
for (const form of document.querySelectorAll('form[data-drop]')) {
  const inputs = [form.querySelector('#image'), form.querySelector('#image_back')];
  form.addEventListener('dragover', (e) => { e.preventDefault(); form.classList.add('over'); });
  form.addEventListener('dragleave', () => form.classList.remove('over'));
  form.addEventListener('drop', (e) => {
    e.preventDefault();
    form.classList.remove('over');
    const files = [...e.dataTransfer.files].filter((f) => f.type.startsWith('image/'));
    files.slice(0, 2).forEach((f, i) => {
      const dt = new DataTransfer();
      dt.items.add(f);
      inputs[i].files = dt.files;
    });
    if (files.length) form.requestSubmit();
  });
}
// A batch still being read: reload its progress every 2 seconds.
if (document.querySelector('progress[data-pending]')) setTimeout(() => location.reload(), 2000);
