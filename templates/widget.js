// Streams the reply of the ask form (POST /api/v1/chat/stream, server-sent events), then
// loads the stored conversation. Without JavaScript (or fetch) the form posts normally.
// Events: queue {position} *, delta {text} *, replace {text} ?, then done {ChatResponse}
// or error {Problem} (a failure, or the server restarting: its detail says what to do).
(function(){var f=document.getElementById('ask'),live=document.getElementById('live');
if(!f||!live||!window.fetch||!window.TextDecoder)return;var busy=false;
function say(s){live.textContent=s;}
f.addEventListener('submit',function(e){var q=f.question.value.trim();if(!q)return;e.preventDefault();if(busy)return;busy=true;
var log=document.getElementById('log'),li=document.createElement('li'),p=document.createElement('p'),a=document.createElement('div'),t=document.createElement('div'),
first=true,fin=false,buf='';
li.className='turn';p.className='q';p.textContent=q;a.className='a';t.className='txt';
a.appendChild(t);li.appendChild(p);li.appendChild(a);log.appendChild(li);li.scrollIntoView({block:'nearest'});
function wait(s){if(first)t.textContent=s;say(s);}
function fail(s){fin=true;busy=false;a.className='a err';t.textContent=s;say(s);}
function end(){if(!fin)fail('连接中断，回答没有收全。请重新发送。');}
function ev(b){var name='message',data=[];b.split('\n').forEach(function(l){var m=/^(event|data): ?(.*)$/.exec(l);if(m){if(m[1]==='event')name=m[2];else data.push(m[2]);}});
if(!data.length)return;var d=JSON.parse(data.join('\n'));
if(name==='queue')wait(d.position>0?'前面还有'+d.position+'位，请稍候':'马上轮到您，请稍候');
else if(name==='delta'){if(first){first=false;t.textContent='';say('正在回答…');}t.appendChild(document.createTextNode(d.text));}
else if(name==='replace'){first=false;t.textContent=d.text;say('回答已更正。');}
else if(name==='error')fail(d.detail||'暂时无法回答，请稍后再试。');
else if(name==='done'){fin=true;t.textContent=d.answer;say('回答完毕，正在显示出处。');
location.href='/widget?s='+encodeURIComponent(d.session_id)+'&r='+encodeURIComponent(d.reply_id)+'#latest';}}
function feed(s){buf+=s.replace(/\r\n?/g,'\n');var i;while(!fin&&(i=buf.indexOf('\n\n'))>=0){var b=buf.slice(0,i);buf=buf.slice(i+2);ev(b);}}
wait('正在查找…');var body={question:q};if(f.s.value)body.session_id=f.s.value;
fetch('/api/v1/chat/stream',{method:'POST',headers:{'Content-Type':'application/json','Accept':'text/event-stream'},body:JSON.stringify(body)}).then(function(r){
if(!r.ok)return r.json().then(function(pb){if(/unknown-session$/.test(pb.type||''))f.s.value='';fail(pb.detail||'暂时无法回答，请稍后再试。');},
function(){fail('暂时无法回答，请稍后再试。（'+r.status+'）');});
if(!r.body)return r.text().then(function(s){feed(s+'\n\n');end();});
var rd=r.body.getReader(),dec=new TextDecoder();
function pump(){return rd.read().then(function(x){if(x.done){feed(dec.decode()+'\n\n');return end();}feed(dec.decode(x.value,{stream:true}));if(fin)return rd.cancel();return pump();});}
return pump();},function(){fin=true;f.submit();}).catch(end);});})();
