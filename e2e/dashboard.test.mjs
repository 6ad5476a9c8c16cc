// End-to-end test of the dashboard at `/`: the real civicast-serve binary on a registry that the
// real civicast-train fits, driven in headless Debian Chromium by playwright-core. It asserts what
// the page shows and saves screenshots to e2e/screenshots/ (look at them: the chart must show
// its 80%/95% bands, the risk table its flags).
//
// Environment:
//   CIVICAST_BIN        folder with civicast-serve and civicast-train (default: target/debug)
//   CHROMIUM            the browser (default: /usr/bin/chromium)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const BIN = path.resolve(ROOT, process.env.CIVICAST_BIN || 'target/debug');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(HERE, 'screenshots');
const DATASET = 'chicago_ridership';
const SERIES = 'Clark_Lake';
const KEY = 'e2e-read-key-for-the-dashboard';
const WRITE_KEY = 'e2e-write-key-for-the-city-feed';
// Flags from the contract (docs/risk.md) and their Korean labels on the page.
const FLAGS_KO = { none: '없음', low: '낮음', medium: '보통', high: '높음' };
const RISK_CSV_COLUMNS =
  'line,id,dataset,series,start,end,planned,forecast_mean,forecast_p10,forecast_p50,forecast_p90,' +
  'waste_probability,shortage_probability,expected_waste,expected_waste_cost,expected_shortage,' +
  'expected_shortage_cost,recommended,flag,reasons,error';

let work, registry, server, serverLog = '', base, context;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function waitForReady(url, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`civicast-serve exited ${server.exitCode}:\n${serverLog}`);
    try { if ((await fetch(url)).ok) return; } catch (_) { /* not listening yet */ }
    await new Promise(r => setTimeout(r, 100));
  }
  throw new Error(`civicast-serve not ready after ${ms} ms:\n${serverLog}`);
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  work = mkdtempSync(path.join(tmpdir(), 'civicast-e2e-'));
  registry = path.join(work, 'registry');
  // Two fast models keep the fit to seconds; the page does not care which model won.
  execFileSync(path.join(BIN, 'civicast-train'), [
    'fit', path.join(ROOT, 'datasets', DATASET, 'dataset.toml'),
    '--registry', registry, '--models', 'snaive,ets', '--quiet',
  ], { stdio: 'inherit' });
  // The store holds the dataset's file, as scripts/start seeds it: live accuracy needs the history.
  execFileSync(path.join(BIN, 'civicast-train'), [
    'import', path.join(ROOT, 'datasets', DATASET, 'dataset.toml'), '--store', path.join(work, 'store.db'),
  ], { stdio: 'inherit' });
  const hash = execFileSync(path.join(BIN, 'civicast-serve'), ['hash-key'], { input: `${KEY}\n` }).toString().trim();
  const writerHash = execFileSync(path.join(BIN, 'civicast-serve'), ['hash-key'], { input: `${WRITE_KEY}\n` }).toString().trim();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(path.join(BIN, 'civicast-serve'), ['--registry', registry, '--store', path.join(path.dirname(registry), 'store.db'), '--listen', `127.0.0.1:${port}`], {
    env: { ...process.env, CIVICAST_API_KEYS: `e2e:read:${hash},feed:write:${writerHash}`, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout.on('data', d => { serverLog += d; });
  server.stderr.on('data', d => { serverLog += d; });
  await waitForReady(`${base}/health/ready`, 30_000);
  context = await chromium.launchPersistentContext(path.join(work, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (context) await context.close();
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise(r => server.once('exit', r));
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

// A fresh page that has entered the API key, showing the dataset's first series.
async function openWithKey() {
  const page = await context.newPage();
  const failures = [];
  page.on('pageerror', e => failures.push(String(e)));
  page.on('requestfailed', r => failures.push(`request failed: ${r.url()}`));
  page.on('request', r => { if (!r.url().startsWith(base) && !r.url().startsWith('blob:')) failures.push(`left the server: ${r.url()}`); });
  await page.goto(base + '/');
  await page.locator('#key-panel').waitFor({ state: 'visible' });
  await page.locator('#api-key').fill(KEY);
  await page.locator('#api-key').press('Enter');
  await page.locator('#chart polygon.band95').waitFor();
  return { page, failures };
}

async function readDownload(page, click) {
  const [download] = await Promise.all([page.waitForEvent('download'), click()]);
  return { name: download.suggestedFilename(), text: readFileSync(await download.path(), 'utf8') };
}

const tableRows = page => page.locator('#forecast-table tbody tr');

test('dashboard: load, key, pick a series, roll up, download CSV, switch language', async t => {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', e => errors.push(String(e)));
  page.on('request', r => { if (!r.url().startsWith(base) && !r.url().startsWith('blob:')) errors.push(`left the server: ${r.url()}`); });

  // Load: Korean by default, asks for the key because /v1 needs one.
  await page.goto(base + '/');
  assert.equal(await page.getAttribute('html', 'lang'), 'ko');
  assert.equal(await page.locator('label[for=rollup]').textContent(), '집계 단위');
  await page.locator('#key-panel').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#status').textContent(), 'API 키가 필요합니다.');
  // First contentful paint is reported, not asserted: a test must not depend on timing, and
  // Chromium records the entry only once a frame has been presented, which on a loaded CI machine
  // can come after the page is already usable. The observer waits for it (buffered), at most 5 s.
  const paint = await page.evaluate(() => new Promise(resolve => {
    const seen = performance.getEntriesByName('first-contentful-paint')[0];
    if (seen) return resolve(seen.startTime);
    new PerformanceObserver(list => {
      const entry = list.getEntriesByName('first-contentful-paint')[0];
      if (entry) resolve(entry.startTime);
    }).observe({ type: 'paint', buffered: true });
    setTimeout(() => resolve(null), 5000);
  }));
  t.diagnostic(paint === null ? 'first contentful paint: not recorded within 5 s' : `first contentful paint: ${Math.round(paint)} ms`);
  await page.screenshot({ path: path.join(SHOTS, '00-key-prompt.png') });

  // Keyboard: the key field has the focus; before it in tab order come the language button and
  // the skip link, after it the connect button.
  const focused = () => page.evaluate(() => document.activeElement.id || document.activeElement.className);
  assert.equal(await focused(), 'api-key');
  await page.keyboard.press('Shift+Tab');
  assert.equal(await focused(), 'lang-toggle');
  await page.keyboard.press('Shift+Tab');
  assert.equal(await focused(), 'skip');
  for (let i = 0; i < 3; i++) await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), '연결');
  await page.locator('#api-key').focus();

  // The key, typed and submitted with Enter, stays in sessionStorage only.
  await page.locator('#api-key').fill(KEY);
  await page.locator('#api-key').press('Enter');
  await page.locator('#chart polygon.band95').waitFor();
  assert.equal(await page.locator('#series option').count(), 20);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('civicast.apiKey')), KEY);
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.ok(await page.locator('#key-panel').isHidden());
  assert.equal(await page.locator('#dataset').inputValue(), DATASET);

  // Pick a series: the chart has both bands and the mean, the table one row per step.
  await page.locator('#series').selectOption(SERIES);
  await page.locator('#status', { hasText: `${SERIES} 예측 14개` }).waitFor();
  assert.equal(await tableRows(page).count(), 14);
  assert.equal(await page.locator('#chart polygon.band95').count(), 1);
  assert.equal(await page.locator('#chart polygon.band80').count(), 1);
  assert.equal(await page.locator('#chart polyline.mean').count(), 1);
  // Recent observations from the version come before the forecast (28: two horizons, at least 28).
  assert.equal(await page.locator('#chart polyline.history').count(), 1);
  const historyPoints = (await page.locator('#chart polyline.history').getAttribute('points')).trim().split(/\s+/);
  assert.equal(historyPoints.length, 28);
  assert.ok(await page.locator('#legend-history').isVisible());
  assert.ok(await page.locator('#history-note').isHidden());
  const meta = await page.locator('#meta').textContent();
  assert.match(meta, /마지막 관측: 2016-08-14/);
  assert.equal(await tableRows(page).first().locator('td').first().textContent(), '2016-08-15');
  assert.match(await page.locator('#chart').getAttribute('aria-label'), /Clark_Lake/);
  await page.screenshot({ path: path.join(SHOTS, '01-forecast-steps.png'), fullPage: true });

  // Change the roll-up (and the horizon, so months are whole): one interval box per month.
  await page.locator('#horizon').fill('120');
  await page.locator('#horizon').press('Enter');
  await page.locator('#status', { hasText: `${SERIES} 예측 120개` }).waitFor();
  await page.locator('#rollup').selectOption('month');
  await page.locator('#status', { hasText: `${SERIES} 예측 5개` }).waitFor();
  const months = await tableRows(page).locator('td:first-child').allTextContents();
  assert.deepEqual(months, ['2016-08 (일부)', '2016-09', '2016-10', '2016-11', '2016-12 (일부)']);
  assert.equal(await page.locator('#chart rect.band95').count(), 5);
  assert.equal(await page.locator('#chart rect.band80').count(), 5);
  // Period totals are on another scale than single observations: no history beside them.
  assert.equal(await page.locator('#chart polyline.history').count(), 0);
  await page.screenshot({ path: path.join(SHOTS, '02-rollup-month.png'), fullPage: true });

  // Keyboard: the roll-up select changes with the arrow keys (month -> quarter).
  await page.locator('#rollup').focus();
  await page.keyboard.press('ArrowDown');
  await page.locator('#status', { hasText: `${SERIES} 예측 2개` }).waitFor();
  assert.deepEqual(await tableRows(page).locator('td:first-child').allTextContents(), ['2016-Q3 (일부)', '2016-Q4 (일부)']);
  await page.locator('#rollup').selectOption('month');
  await page.locator('#status', { hasText: `${SERIES} 예측 5개` }).waitFor();

  // Download the forecast as CSV: one row per month, the numbers of the table.
  const { name, text } = await readDownload(page, () => page.locator('#download-forecast').click());
  assert.equal(name, `civicast-forecast-${DATASET}-${SERIES}-month.csv`);
  const lines = text.trim().split('\n');
  assert.equal(lines[0], 'dataset,series,version,model,unit,rollup,period,start,end,steps,complete,mean,q0.025,q0.1,q0.9,q0.975');
  assert.equal(lines.length, 6);
  const september = lines[2].split(',');
  assert.deepEqual(september.slice(0, 2), [DATASET, SERIES]);
  assert.deepEqual(september.slice(5, 11), ['month', '2016-09', '2016-09-01', '2016-09-30', '30', 'true']);
  const [mean, lo95, lo80, hi80, hi95] = september.slice(11).map(Number);
  assert.ok(lo95 <= lo80 && lo80 <= mean && mean <= hi80 && hi80 <= hi95, lines[2]);
  const shownMean = await tableRows(page).nth(1).locator('td').nth(4).textContent();
  assert.equal(Number(shownMean.replace(/,/g, '')).toFixed(1), mean.toFixed(1));

  // A group: tick two more series (keyboard: focus and Space); each gets a small chart with its
  // own bands, and the CSV holds all three.
  await page.locator('#group summary').press('Enter');
  for (const other of ['Belmont', 'Austin']) {
    await page.locator(`#group-list input[value=${other}]`).focus();
    await page.keyboard.press('Space');
  }
  await page.locator('#status', { hasText: `${SERIES} 예측 5개 구간을 표시했습니다 (함께 보기 2개)` }).waitFor();
  const groupCharts = page.locator('#group-charts figure');
  const titles = await groupCharts.locator('h3').allTextContents();
  assert.deepEqual(titles.map(h => h.split(' ')[0]), ['Austin', 'Belmont']);
  assert.equal(await groupCharts.count(), 2);
  assert.equal(await groupCharts.nth(0).locator('rect.band95').count(), 5);
  assert.equal(await groupCharts.nth(1).locator('rect.band80').count(), 5);
  await page.screenshot({ path: path.join(SHOTS, '03-group.png'), fullPage: true });
  const group = await readDownload(page, () => page.locator('#download-forecast').click());
  assert.equal(group.name, `civicast-forecast-${DATASET}-${SERIES}-and-2-month.csv`);
  const groupLines = group.text.trim().split('\n');
  assert.equal(groupLines.length, 1 + 3 * 5);
  assert.deepEqual([...new Set(groupLines.slice(1).map(l => l.split(',')[1]))], [SERIES, 'Austin', 'Belmont']);

  // Switch the language: labels, the table and the chart follow; the choice survives a reload.
  await page.locator('#lang-toggle').click();
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.equal(await page.locator('label[for=rollup]').textContent(), 'Roll-up');
  assert.equal(await page.locator('#lang-toggle').textContent(), '한국어');
  assert.equal(await page.locator('#forecast-table th').nth(4).textContent(), 'Mean');
  assert.equal(await tableRows(page).first().locator('td').first().textContent(), '2016-08 (partial)');
  assert.match(await page.locator('#meta').textContent(), /Last observation: 2016-08-14/);
  assert.equal(await page.locator('#status').textContent(), `Downloaded ${group.name}.`);
  await page.screenshot({ path: path.join(SHOTS, '04-english.png'), fullPage: true });
  await page.reload();
  await page.locator('#chart polygon.band95').waitFor();
  assert.equal(await page.locator('label[for=rollup]').textContent(), 'Roll-up');
  await page.locator('#lang-toggle').click();
  assert.equal(await page.locator('label[for=rollup]').textContent(), '집계 단위');

  // The chart draws whatever history it is given before the forecast.
  await page.evaluate(() => drawChart(document.getElementById('chart'), {
    history: [{ label: '2016-08-13', value: 7 }, { label: '2016-08-14', value: 6.5 }],
    points: [{ label: '2016-08-15', mean: 20, lo80: 16, hi80: 24, lo95: 14, hi95: 26 },
      { label: '2016-08-16', mean: 22, lo80: 17, hi80: 26, lo95: 15, hi95: 29 }],
    lastObservation: '2016-08-14', title: 'history hook',
  }));
  assert.equal(await page.locator('#chart polyline.history').count(), 1);
  assert.equal(await page.locator('#chart polygon.band95').count(), 1);

  assert.deepEqual(errors, []);
  await page.close();
});

// The contract's example answer (docs/risk.md), with the dates and ids of BUDGET_CSV,
// for the browser-side stub below.
const CONTRACT_ANSWER = {
  currency: 'KRW',
  results: [
    {
      line: 1, id: 'CL-2016-08a', dataset: DATASET, series: SERIES, start: '2016-08-15', end: '2016-08-21',
      version: 'v', planned: 95.0, unit: 'thousand riders per day',
      forecast: { mean: 88.1, quantiles: { '0.05': 80.2, '0.1': 82.0, '0.5': 88.0, '0.9': 94.1, '0.95': 96.0 } },
      waste_probability: 0.62, shortage_probability: 0.01,
      expected_waste: { quantity: 7.1, cost: 8520.0 }, expected_shortage: { quantity: 0.1, cost: 240.0 },
      recommended: 90.3, flag: 'high',
      reasons: ['planned 95.0 is above the 90th percentile of forecast demand, 94.1'],
    },
    { line: 2, id: 'line 2', error: { field: 'end', detail: 'end 2016-08-01 is before start 2016-08-22' } },
  ],
};
const BUDGET_CSV =
  'id,dataset,series,start,end,planned,unit_cost,tolerance,waste_cost,shortage_cost\n' +
  `CL-2016-08a,${DATASET},${SERIES},2016-08-15,2016-08-21,95,1200,,,\n` +
  `,${DATASET},${SERIES},2016-08-22,2016-08-01,95,1200,,,\n`;

async function uploadBudget(page) {
  await page.locator('#budget-file').setInputFiles({ name: 'budget.csv', mimeType: 'text/csv', buffer: Buffer.from(BUDGET_CSV) });
}

// The page against the contract's own example, with /v1/risk answered inside the browser (the
// server is not involved): it checks what the page sends and how it shows flags, reasons,
// provisions and line errors, whether or not the server has the route yet.
test('risk UI: upload budget lines, show the contract example answer, download flags (browser-stubbed /v1/risk)', async () => {
  const { page, failures } = await openWithKey();
  const sent = [];
  await page.route('**/v1/risk', async route => {
    const request = route.request();
    sent.push({ type: request.headers()['content-type'], accept: request.headers().accept, auth: request.headers().authorization, body: request.postData() });
    if (request.headers().accept === 'text/csv') {
      await route.fulfill({ status: 200, contentType: 'text/csv', body: RISK_CSV_COLUMNS + '\n1,CL-2016-08a\n' });
    } else {
      await route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(CONTRACT_ANSWER) });
    }
  });
  // The example button writes one line for the chosen series: its first forecast week, planned
  // 10% above the forecast mean of that week.
  await page.locator('#budget-example').click();
  const example = (await page.locator('#budget').inputValue()).trim().split('\n');
  assert.equal(example[0], 'id,dataset,series,start,end,planned,unit_cost,tolerance,waste_cost,shortage_cost');
  assert.match(example[1], /^Addison-1,chicago_ridership,Addison,2016-08-15,2016-08-21,[0-9.]+,1200,,,$/);

  await uploadBudget(page);
  await page.locator('#risk-status', { hasText: '2개 항목을 평가했습니다 (오류 1개)' }).waitFor();
  assert.equal(await page.locator('#budget').inputValue(), BUDGET_CSV);
  assert.deepEqual(sent[0], { type: 'text/csv', accept: 'application/json', auth: `Bearer ${KEY}`, body: BUDGET_CSV });

  const rows = page.locator('#risk-table tbody tr');
  assert.equal(await rows.count(), 2);
  const first = rows.nth(0);
  assert.equal(await first.locator('.flag').textContent(), '높음');
  assert.match(await first.textContent(), /above the 90th percentile of forecast demand, 94\.1/);
  assert.match(await first.textContent(), /90\.3/);  // recommended provision
  assert.match(await first.textContent(), /62%/);    // waste probability
  assert.match(await first.textContent(), /8,520/);  // expected waste cost
  assert.match(await page.locator('#risk-table thead').textContent(), /예상 낭비 비용 \(KRW\)/);
  assert.match(await rows.nth(1).textContent(), /end — end 2016-08-01 is before start 2016-08-22/);
  await page.screenshot({ path: path.join(SHOTS, '05-risk-contract-example.png'), fullPage: true });

  const { name, text } = await readDownload(page, () => page.locator('#download-risk').click());
  assert.equal(name, 'civicast-risk-flags.csv');
  assert.equal(text.split('\n')[0], RISK_CSV_COLUMNS);
  assert.equal(sent[1].accept, 'text/csv');
  assert.equal(sent[1].body, BUDGET_CSV);

  await page.locator('#lang-toggle').click();
  assert.equal(await rows.nth(0).locator('.flag').textContent(), 'high');
  assert.match(await page.locator('#risk-table thead').textContent(), /Recommended/);
  await page.locator('#lang-toggle').click();
  assert.deepEqual(failures, []);
  await page.close();
});

// The same flow against the server's real answers.
test('risk flow against the real POST /v1/risk: upload, flags with reasons and provisions, CSV', async () => {
  const { page, failures } = await openWithKey();
  await uploadBudget(page);
  await page.locator('#risk-status', { hasText: '2개 항목을 평가했습니다 (오류 1개)' }).waitFor();
  const rows = page.locator('#risk-table tbody tr');
  assert.equal(await rows.count(), 2);
  const flag = await rows.nth(0).locator('.flag').textContent();
  assert.ok(Object.values(FLAGS_KO).includes(flag), flag);
  assert.ok(await rows.nth(0).locator('ul.reasons li').count() >= (flag === '없음' ? 0 : 1));
  const recommended = Number((await rows.nth(0).locator('td').nth(11).textContent()).replace(/,/g, ''));
  assert.ok(recommended > 0, `recommended ${recommended}`);
  assert.match(await rows.nth(1).textContent(), /end/);
  await page.screenshot({ path: path.join(SHOTS, '06-risk-real.png'), fullPage: true });
  const { text } = await readDownload(page, () => page.locator('#download-risk').click());
  // The server writes RFC 4180 CSV: CRLF line ends.
  const lines = text.trim().split('\r\n');
  assert.equal(lines[0], RISK_CSV_COLUMNS);
  assert.equal(lines.length, 3);
  assert.deepEqual(failures, []);
  await page.close();
});

// A fit in progress (civicast-train fit marks its datasets in the registry) is shown beside the
// model until its marker goes. The marker here names this test's process, which is running.
test('a fit in progress is shown as coming beside the model', async () => {
  const markers = path.join(registry, 'training');
  mkdirSync(markers, { recursive: true });
  const since = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  writeFileSync(path.join(markers, `${DATASET}.json`), JSON.stringify({
    dataset: DATASET, models: ['auto'], state: 'fitting', since, promote: true, pid: process.pid, host: hostname(),
  }));
  try {
    // The service reads markers when it polls the registry (every few seconds).
    const deadline = Date.now() + 30_000;
    for (;;) {
      const response = await fetch(`${base}/v1/series?dataset=${DATASET}&limit=1`, { headers: { Authorization: `Bearer ${KEY}` } });
      const page = await response.json();
      if (page.series[0].coming) { assert.deepEqual(page.series[0].coming.models, ['auto']); break; }
      assert.ok(Date.now() < deadline, `no coming after 30 s:\n${serverLog}`);
      await new Promise(r => setTimeout(r, 250));
    }
    const { page, failures } = await openWithKey();
    await page.locator('#meta', { hasText: '새 모델 auto 학습 중' }).waitFor();
    assert.match(await page.locator('#meta').textContent(), /끝나면 자동으로 바뀝니다/);
    await page.locator('#lang-toggle').click();
    await page.locator('#meta', { hasText: 'coming: auto, fitting since' }).waitFor();
    await page.locator('#lang-toggle').click();
    assert.deepEqual(failures, []);
    await page.close();
  } finally {
    rmSync(path.join(markers, `${DATASET}.json`), { force: true });
  }
});

test('live data: freshness, live accuracy beside the backtest, and a drift flag', async () => {
  // The city's feed sends 41 days after the file's end, one day per request, three times the
  // station's usual ridership: each day moves the forecast on and issues a new one, and the 28
  // forecasts whose 14 days have all arrived are scored, far worse than the backtest promised.
  const first = new Date('2016-08-15T00:00:00Z');
  let last;
  for (let d = 0; d < 41; d++) {
    last = new Date(first.getTime() + d * 86_400_000).toISOString().slice(0, 10);
    const response = await fetch(`${base}/v1/observations`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${WRITE_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ dataset: DATASET, observations: [{ id: SERIES, time: last, value: 60 + (d % 7) }] }),
    });
    assert.equal(response.status, 200, await response.text());
  }
  const { page, failures } = await openWithKey();
  const option = page.locator('#series option', { hasText: `${SERIES} ` });
  assert.match(await option.textContent(), /⚠ 드리프트/);
  await page.locator('#series').selectOption(SERIES);
  await page.locator('#meta', { hasText: `마지막 관측: ${last}` }).waitFor();
  const live = await page.locator('#live').textContent();
  assert.match(live, /데이터 수신: \d/);
  assert.match(live, /실제 정확도 MASE \d+\.\d{3} \(예측 28건 채점\) · 백테스트 MASE \d+\.\d{3}/);
  await page.locator('#drift', { hasText: '드리프트' }).waitFor();
  await page.screenshot({ path: path.join(SHOTS, 'live-drift.png'), fullPage: true });
  await page.locator('#lang-toggle').click();
  await page.locator('#live', { hasText: '28 forecasts scored' }).waitFor();
  await page.locator('#drift', { hasText: 'Drift: live error is above' }).waitFor();
  // Another station received nothing: no drift, nothing scored after the file's end.
  await page.locator('#series').selectOption('Austin');
  await page.locator('#status', { hasText: 'Austin' }).waitFor();
  assert.equal(await page.locator('#drift').isHidden(), true);
  assert.deepEqual(failures, []);
  await page.close();
});
