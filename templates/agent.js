// Progressive enhancement only: without it every page works by refreshing.
// Live updates: the server says (GET /agent/events, server-sent events) when what this page
// shows has changed; the page fetches itself again and swaps in its parts marked
// data-region. A list marked data-append only gains its new items (so a screen reader reads
// just those); a part with a data-key is kept while its key stays the same (a reply being
// typed is not lost when a message arrives).
(() => {
  const main = document.getElementById('main');
  const live = main && main.dataset.live;
  if (!live || !window.EventSource || !window.fetch || !window.DOMParser) return;
  let busy = false;
  let again = false;
  const swap = (doc) => {
    for (const old of document.querySelectorAll('[data-region]')) {
      const fresh = doc.querySelector(`[data-region="${old.dataset.region}"]`);
      if (!fresh) continue;
      if ('key' in old.dataset && old.dataset.key === fresh.dataset.key) continue;
      const items = [...fresh.children];
      if ('append' in old.dataset && items.length >= old.children.length) {
        for (const item of items.slice(old.children.length)) old.append(document.importNode(item, true));
      } else {
        old.replaceChildren(...[...fresh.childNodes].map((n) => document.importNode(n, true)));
      }
      if ('key' in fresh.dataset) old.dataset.key = fresh.dataset.key;
    }
  };
  const refresh = async () => {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const r = await fetch(location.pathname, { credentials: 'same-origin', cache: 'no-store' });
      if (r.ok) swap(new DOMParser().parseFromString(await r.text(), 'text/html'));
    } catch (e) {
      // The next change tries again; the refresh link still works.
    }
    busy = false;
    if (again) { again = false; refresh(); }
  };
  new EventSource(live).addEventListener('change', refresh);
})();
