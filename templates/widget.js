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
// While an agent has (or is about to take) the conversation: the handoff's events
// (GET /api/v1/chat/{session}/events) update the queue position, announce the agent and add
// their messages as they come; when the handoff ends the page reloads. Without JavaScript the
// page refreshes itself while waiting and has a refresh link.
(function(){var sec=document.querySelector('[data-live]');if(!sec||!window.EventSource)return;
var st=document.getElementById('handoff-status'),live=document.getElementById('live'),log=document.getElementById('log');
var es=new EventSource('/api/v1/chat/'+encodeURIComponent(sec.getAttribute('data-live'))+'/events');
function say(s){if(st)st.textContent=s;if(live)live.textContent=s;}
es.addEventListener('queue',function(e){var d=JSON.parse(e.data),ahead=Math.max((d.position||1)-1,0),min=Math.max(Math.ceil((d.estimated_wait_s||0)/60),1);
say('正在排队：您前面还有'+ahead+'位，预计等待约'+min+'分钟。工作人员接入后会在这里回复您。');});
es.addEventListener('joined',function(e){var d=JSON.parse(e.data);say('工作人员 '+(d.agent||'')+' 已接入，您发送的消息会直接交给工作人员。');});
es.addEventListener('message',function(e){var d=JSON.parse(e.data),items=log?log.getElementsByTagName('li'):[],li=items.length?items[items.length-1]:null;
if(!li)return;var p=document.createElement('p'),w=document.createElement('span');p.className='agent';w.className='who';w.textContent='工作人员 '+(d.agent||'')+'：';
p.appendChild(w);p.appendChild(document.createTextNode(d.text));li.appendChild(p);p.scrollIntoView({block:'nearest'});if(live)live.textContent='工作人员：'+d.text;});
es.addEventListener('closed',function(){es.close();location.reload();});
es.addEventListener('error',function(){if(es.readyState===2)say('连接中断，请点“刷新”查看新消息。');});})();
