(function(){var f=document.getElementById('ask');if(!f||!window.fetch||!window.TextDecoder)return;
f.addEventListener('submit',function(e){var q=f.question.value.trim();if(!q)return;e.preventDefault();
var log=document.getElementById('log'),li=document.createElement('li'),p=document.createElement('p'),a=document.createElement('div');
li.className='turn';p.className='q';p.textContent=q;a.className='a';a.setAttribute('aria-live','polite');a.textContent='正在查找…';
li.appendChild(p);li.appendChild(a);log.appendChild(li);li.scrollIntoView();
var body={question:q};if(f.s.value)body.session_id=f.s.value;var first=true;
fetch('/api/v1/chat/stream',{method:'POST',headers:{'Content-Type':'application/json'},body:JSON.stringify(body)}).then(function(r){
if(!r.ok||!r.body){f.submit();return;}var rd=r.body.getReader(),dec=new TextDecoder(),buf='';
function pump(){return rd.read().then(function(x){if(x.done)return;buf+=dec.decode(x.value,{stream:true});var i;
while((i=buf.indexOf('\n\n'))>=0){var ev=buf.slice(0,i);buf=buf.slice(i+2);var m=/^event: (\w+)\ndata: (.*)$/m.exec(ev);if(!m)continue;var d=JSON.parse(m[2]);
if(m[1]==='delta'){if(first){a.textContent='';first=false;}a.textContent+=d.text;}
else if(m[1]==='done'){location.href='/widget?s='+d.session_id+'#latest';return;}}return pump();});}
return pump();}).catch(function(){f.submit();});});})();
