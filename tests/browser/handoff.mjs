// The live handoff in Debian's Chromium, two browser contexts at once: a citizen in the
// widget and an agent in the console /agent.
//
//   HANDOFF_TEST_AGENT=… HANDOFF_TEST_PASSWORD=… node tests/browser/handoff.mjs http://127.0.0.1:PORT tests/artifacts
//
// The server must answer handoffs at any hour (handoff.hours = "always") and the agent
// account must exist (tests/browser/run.sh sets both up). With JavaScript, the citizen asks for
// a person, the request appears in the agent's queue without a reload, the agent claims and
// answers, and the answer appears in the citizen's page without a reload (server-sent events);
// the citizen answers through the ask form and the agent's open conversation shows it without
// a reload (the console's own script, under its Content-Security-Policy). Without JavaScript, the same round trip through forms and the refresh link, then the
// callback form after a close with `callback_needed`, in elder mode. axe-core (WCAG 2.0/2.1 A
// and AA) runs on every console page and on the citizen's handoff pages; screenshots and
// axe's results go to the output folder. Prints `N passed, M failed`; exits 1 on any failure.

import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const CHROMIUM = process.env.XIAOBAN_CHROMIUM || '/usr/bin/chromium';
const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const AGENT = process.env.HANDOFF_TEST_AGENT;
const PASSWORD = process.env.HANDOFF_TEST_PASSWORD;

const [base0, outDir0] = process.argv.slice(2);
if (!base0 || !AGENT || !PASSWORD) {
  console.error('usage: HANDOFF_TEST_AGENT=… HANDOFF_TEST_PASSWORD=… node handoff.mjs BASE_URL [OUTPUT_DIR]');
  process.exit(2);
}
const BASE = base0.replace(/\/+$/, '');
const OUT = path.resolve(outDir0 || 'tests/artifacts');
fs.mkdirSync(OUT, { recursive: true });
const url = (p) => BASE + p;

const results = [];
function record(name, ok, detail = '') {
  results.push({ name, ok, detail });
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
}

async function axeCheck(page, name) {
  // Evaluated through the DevTools protocol, not added as a <script>: the pages' policy
  // allows only their own inline scripts, and they stay under it for the test.
  await page.evaluate(AXE_SOURCE);
  const res = await page.evaluate(
    (tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags } }),
    WCAG_TAGS,
  );
  fs.writeFileSync(path.join(OUT, `axe-${name}.json`), JSON.stringify(res, null, 2));
  const v = res.violations;
  record(`axe ${name}`, v.length === 0, v.length ? v.map((x) => `${x.id}: ${x.nodes.map((n) => n.target.join(' ')).join(', ')}`).join('; ') : `${res.passes.length} rules passed`);
}

async function shot(page, file) {
  await page.screenshot({ path: path.join(OUT, file), fullPage: true });
}

async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    record(name, false, String(e && e.message ? e.message : e).split('\n')[0]);
  }
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  chromiumSandbox: false,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
const pageErrors = [];
async function newPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 420, height: 860 }, locale: 'zh-CN', ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on('pageerror', (e) => pageErrors.push(`${page.url().replace(BASE, '')}: ${e.message}`));
  // A script of the page's own that its Content-Security-Policy refuses is an error too.
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/.test(m.text())) {
      pageErrors.push(`${page.url().replace(BASE, '')}: ${m.text()}`);
    }
  });
  return page;
}

// Claims the first waiting citizen on the console; returns the conversation's address.
async function claimFirst(agent) {
  await agent.goto(url('/agent'));
  await Promise.all([agent.waitForNavigation(), agent.click('form[action$="/claim"] button')]);
  return agent.url();
}

async function reply(agent, text) {
  await agent.fill('#text', text);
  await Promise.all([agent.waitForNavigation(), agent.click('form[action$="/messages"] button')]);
}

async function closeWith(agent, resolution) {
  await agent.selectOption('#resolution', resolution);
  await Promise.all([agent.waitForNavigation(), agent.click('form[action$="/close"] button')]);
}

try {
  // Under the console's own Content-Security-Policy: a refused script is a page error.
  const agent = await newPage({ viewport: { width: 1280, height: 900 } });
  // Marks the agent's page; the mark is gone if the page was loaded again.
  const mark = () => agent.evaluate(() => { window.__notReloaded = true; });
  const notReloaded = () => agent.evaluate(() => window.__notReloaded === true);
  // axe-core needs JavaScript: the no-JS citizen's pages are checked here, in elder mode too.
  const checker = await newPage();
  await checker.context().addCookies([{ name: 'xiaoban_elder', value: '1', url: BASE }]);
  async function axeNoJs(page, name) {
    await checker.goto(page.url());
    await axeCheck(checker, name);
  }
  await step('agent signs in to the console', async () => {
    await agent.goto(url('/agent'));
    await axeCheck(agent, 'agent-login');
    await agent.fill('#username', AGENT);
    await agent.fill('#password', PASSWORD);
    await Promise.all([agent.waitForNavigation(), agent.click('main form button[type="submit"]')]);
    const text = await agent.textContent('main');
    record('agent console shows duty and the queue', text.includes('在岗') && text.includes('排队中的群众'), text.replace(/\s+/g, ' ').slice(0, 120));
    await shot(agent, 'agent-queue-empty.png');
    await axeCheck(agent, 'agent-queue');
  });

  // With JavaScript.
  const citizen = await newPage();
  await step('citizen with JavaScript: queue, live agent message, reply', async () => {
    await agent.goto(url('/agent'));
    await mark();
    await citizen.goto(url('/widget'));
    await citizen.fill('#question', '转人工');
    await Promise.all([citizen.waitForURL(/\/widget\?s=/), citizen.click('#ask button[type="submit"]')]);
    await citizen.waitForSelector('#handoff-status');
    const status = await citizen.textContent('#handoff-status');
    record('citizen (JS) is told the place in the queue', status.includes('前面还有0位'), status);
    await shot(citizen, 'citizen-js-waiting.png');
    await axeCheck(citizen, 'citizen-js-waiting');

    await agent.waitForSelector('form[action$="/claim"] button', { timeout: 5_000 });
    record('the waiting citizen appears in the agent\'s queue without a reload', await notReloaded(), '');
    await axeCheck(agent, 'agent-queue-live');
    const conv = await claimFirst(agent);
    await shot(agent, 'agent-conversation.png');
    await axeCheck(agent, 'agent-conversation');
    const hello = '您好，我是值班客服，请问有什么可以帮您？';
    await reply(agent, hello);
    await citizen.waitForSelector(`p.agent:has-text("${hello}")`, { timeout: 10_000 });
    record('the agent\'s message reaches the citizen without a reload', true);
    const joined = await citizen.textContent('#handoff-status');
    record('citizen (JS) is told the agent joined', joined.includes('已接入') || joined.includes('正在为您服务'), joined);
    await shot(citizen, 'citizen-js-agent-message.png');

    await mark();
    await agent.fill('#text', '（正在输入）');
    const sent = Date.now();
    await citizen.fill('#question', '想问一下补领社保卡的事');
    await Promise.all([
      citizen.waitForResponse((r) => r.url().endsWith('/api/v1/chat/stream')),
      citizen.click('#ask button[type="submit"]'),
    ]);
    await agent.waitForSelector('ol.log p.q:has-text("想问一下补领社保卡的事")', { timeout: 5_000 });
    const took = Date.now() - sent;
    record('the citizen\'s message appears in the agent\'s open conversation without a reload', await notReloaded(), `${took} ms after sending`);
    record('a reply being typed survives the update', (await agent.inputValue('#text')) === '（正在输入）', '');
    await shot(agent, 'agent-conversation-live.png');
    await axeCheck(agent, 'agent-conversation-live');
    await citizen.waitForLoadState('load');
    await agent.goto(conv);
    const transcript = await agent.textContent('main');
    record('the citizen\'s answer reaches the agent', transcript.includes('想问一下补领社保卡的事'), '');
    await closeWith(agent, 'answered');
    await citizen.waitForFunction(() => (document.getElementById('handoff-status') || {}).textContent?.includes('人工服务已结束'), null, { timeout: 15_000 });
    record('citizen (JS) sees the conversation closed', true);
    await axeCheck(citizen, 'citizen-js-closed');
  });

  // Without JavaScript, in elder mode.
  const plain = await newPage({ javaScriptEnabled: false });
  await step('citizen without JavaScript: forms, refresh link, callback', async () => {
    await plain.goto(url('/widget?elder=1'));
    await plain.fill('#question', '帮我接通客服');
    await Promise.all([plain.waitForNavigation(), plain.click('#ask button[type="submit"]')]);
    const waiting = await plain.textContent('#handoff-status');
    record('citizen (no JS) is told the place in the queue', waiting.includes('前面还有0位'), waiting);
    const refresh = await plain.locator('noscript').count();
    record('the waiting page refreshes itself without JavaScript', refresh > 0, `${refresh} noscript`);
    await shot(plain, 'citizen-nojs-elder-waiting.png');
    await axeNoJs(plain, 'citizen-nojs-elder-waiting');

    const conv = await claimFirst(agent);
    const answer = '请带身份证到社保窗口办理，当场可以取卡。';
    await reply(agent, answer);
    await Promise.all([plain.waitForNavigation(), plain.click('button:has-text("刷新，看工作人员的新消息")')]);
    const page = await plain.textContent('main');
    record('the agent\'s message shows after the refresh button', page.includes(answer), plain.url().replace(BASE, ''));
    await shot(plain, 'citizen-nojs-elder-agent-message.png');
    await plain.fill('#question', '好的，谢谢');
    await Promise.all([plain.waitForNavigation(), plain.click('#ask button[type="submit"]')]);
    await agent.goto(conv);
    record('the no-JS citizen\'s answer reaches the agent', (await agent.textContent('main')).includes('好的，谢谢'), '');

    await closeWith(agent, 'callback_needed');
    await plain.reload();
    await plain.fill('#phone', '13912345678');
    await plain.fill('#cb-message', '社保卡的事');
    await shot(plain, 'citizen-nojs-elder-callback.png');
    await axeNoJs(plain, 'citizen-nojs-elder-callback');
    await Promise.all([plain.waitForNavigation(), plain.click('form[action="/widget/callback"] button')]);
    const done = await plain.textContent('#handoff-status');
    record('the callback is registered', done.includes('已为您登记回电'), done);

    await agent.goto(url('/agent/callbacks'));
    const list = await agent.textContent('main');
    record('the callback list shows the number masked', list.includes('139****5678') && !list.includes('13912345678'), '');
    await shot(agent, 'agent-callbacks.png');
    await axeCheck(agent, 'agent-callbacks');
  });

  record('no JavaScript errors in the pages', pageErrors.length === 0, pageErrors.join(' ; '));
} catch (e) {
  record('browser test', false, String(e && e.stack ? e.stack : e));
} finally {
  await browser.close().catch(() => {});
}

const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
console.log(`screenshots and axe results: ${OUT}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
