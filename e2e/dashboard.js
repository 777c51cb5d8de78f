// The dashboard's end-to-end scenarios, in Debian's Chromium (headless) driven by
// playwright-core, each page checked by axe-core. Run by crates/wharf/tests/it/dashboard.rs,
// which starts `wharf server` and passes, in the environment:
//   WHARF_URL             http://127.0.0.1:PORT
//   WHARF_DEPLOYER_TOKEN  a deployer token;  WHARF_VIEWER_TOKEN  a viewer token
//   WHARF_SCREENSHOTS     where to save a screenshot of each page
// Exits non-zero with the failed step on stderr.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');
const axe = require('axe-core');

const BASE = process.env.WHARF_URL;
const DEPLOYER = process.env.WHARF_DEPLOYER_TOKEN;
const VIEWER = process.env.WHARF_VIEWER_TOKEN;
const SHOTS = process.env.WHARF_SCREENSHOTS || 'dashboard-screenshots';
const CHROMIUM = process.env.WHARF_CHROMIUM || '/usr/bin/chromium';
const OVERRIDE_REASON = 'hotfix for incident 4711';
const CANCEL_REASON = 'wrong version picked';
const LOCK_REASON = 'database migration freeze';
const HOLD_REASON = 'nightly broke sidekiq';
const TIMEOUT = 60000;

let step = 'start';

// The API, as the CLI calls it.
async function api(method, route, token, body) {
  const response = await fetch(BASE + '/api/v1' + route, {
    method,
    headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

// axe-core on the page as it is: no serious or critical violations, in light and dark.
async function accessible(page, name) {
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
      await page.evaluate(axe.source);
    }
    const results = await page.evaluate(() => window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    }));
    const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(
      bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join('; ')}`),
      [],
      `axe found serious violations on ${name} (${scheme})`,
    );
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

async function screenshot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

// Look at a page: accessible, screenshot saved.
async function check(page, name) {
  await accessible(page, name);
  await screenshot(page, name);
}

async function login(browser, token, who) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  step = `${who}: the login page`;
  await page.goto(BASE + '/');
  assert.match(page.url(), /\/login\?next=%2F$/);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  if (who === 'deployer') {
    // A wrong token is refused with a message, and nothing is set.
    await page.getByLabel('Token').fill('wharf_' + '0'.repeat(64));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'unknown token' }).waitFor();
    await check(page, 'login');
  }
  step = `${who}: signing in`;
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'wharf_session');
  assert.ok(session, 'no session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  return { context, page };
}

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
  try {
    const { page } = await login(browser, DEPLOYER, 'deployer');

    step = 'the overview';
    const table = page.getByRole('table', { name: 'What runs where, in promotion order' });
    await table.getByRole('rowheader', { name: /staging/ }).waitFor();
    await table.getByRole('rowheader', { name: /production/ }).waitFor();
    await table.getByRole('columnheader', { name: 'app' }).waitFor();
    await check(page, 'overview');

    step = 'a deploy started through the API, followed live';
    const started = await api('POST', '/deploys', DEPLOYER, { environment: 'staging', version: '1.0' });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const id = started.body.id;
    await page.goto(`${BASE}/deploys/${id}`);
    await page.getByRole('heading', { name: `Deploy #${id}` }).waitFor();
    // The page was loaded while the deploy ran: it must change without being reloaded.
    await page.evaluate(() => { window.notReloaded = true; });
    const state = page.locator('#deploy-state');
    assert.match(await state.innerText(), /running|planned/);
    await check(page, 'deploy-running');
    await state.getByText('succeeded').waitFor();
    assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page reloaded');
    const events = page.getByRole('list').filter({ has: page.getByText('deploy.finished') });
    await events.waitFor();
    const stages = page.getByRole('table').filter({ has: page.getByRole('rowheader', { name: 'soak' }) });
    await stages.getByRole('row', { name: /soak.*succeeded/ }).waitFor();
    await check(page, 'deploy-succeeded');

    step = 'the overview shows the version and who deployed it';
    await page.goto(BASE + '/');
    const stagingRow = page.getByRole('row', { name: /staging/ });
    await stagingRow.getByRole('link', { name: '1.0' }).waitFor();
    assert.match(await stagingRow.innerText(), /by deployer/);

    step = 'a production deploy with an override, waiting at a manual stage';
    const gated = await api('POST', '/deploys', DEPLOYER, {
      environment: 'production', version: '2.0', ignore_production_checks: OVERRIDE_REASON,
    });
    assert.ok([200, 202].includes(gated.status), JSON.stringify(gated.body));
    const gatedId = gated.body.id;
    for (let i = 0; ; i++) {
      const shown = await api('GET', `/deploys/${gatedId}`, DEPLOYER);
      if (shown.body.deploy.state === 'waiting') break;
      assert.ok(i < 600, `deploy ${gatedId} never waited: ${JSON.stringify(shown.body.deploy)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    step = 'a viewer sees no actions and is refused one';
    const viewer = await login(browser, VIEWER, 'viewer');
    await viewer.page.goto(`${BASE}/deploys/${gatedId}`);
    await viewer.page.locator('#deploy-state').getByText('waiting').waitFor();
    assert.equal(await viewer.page.getByRole('link', { name: /Approve/ }).count(), 0);
    assert.equal(await viewer.page.getByRole('heading', { name: 'Actions' }).count(), 0);
    await viewer.page.getByRole('cell', { name: OVERRIDE_REASON }).waitFor();
    await check(viewer.page, 'deploy-waiting-viewer');
    // The form a deployer would post, posted by the viewer with the viewer's own CSRF token.
    await viewer.page.evaluate((target) => {
      const form = document.createElement('form');
      form.method = 'post';
      form.action = target;
      const csrf = document.querySelector('input[name="csrf"]').cloneNode();
      form.appendChild(csrf);
      document.body.appendChild(form);
      form.submit();
    }, `/deploys/${gatedId}/approve`);
    await viewer.page.getByRole('heading', { name: 'Not allowed' }).waitFor();
    await viewer.page.getByRole('alert').filter({ hasText: 'role deployer' }).waitFor();
    await check(viewer.page, 'refused-viewer');
    const still = await api('GET', `/deploys/${gatedId}`, DEPLOYER);
    assert.equal(still.body.deploy.state, 'waiting', 'the viewer changed the deploy');
    // The viewer keeps the overview open: it shows the waiting deploy, then (below) what
    // the approval installed, by itself.
    await viewer.page.goto(BASE + '/');
    const waitingRow = viewer.page.getByRole('row', { name: /production/ });
    await waitingRow.getByRole('link', { name: `Deploy #${gatedId}` }).waitFor();
    await waitingRow.getByText('waiting').waitFor();
    await viewer.page.evaluate(() => { window.notReloaded = true; });

    step = 'a deployer approves the manual stage';
    await page.goto(`${BASE}/deploys/${gatedId}`);
    await page.getByRole('heading', { name: 'Actions' }).waitFor();
    await check(page, 'deploy-waiting');
    await page.getByRole('link', { name: 'Approve stage go' }).click();
    await page.getByRole('heading', { name: `Approve deploy #${gatedId}` }).waitFor();
    await check(page, 'approve-confirm');
    await page.getByRole('button', { name: 'Yes, approve' }).click();
    await page.getByRole('heading', { name: `Deploy #${gatedId}` }).waitFor();
    await page.locator('#deploy-state').getByText('succeeded').waitFor();

    step = "the viewer's overview followed the deploy to its end";
    await waitingRow.getByRole('link', { name: '2.0' }).waitFor();
    assert.equal(await viewer.page.evaluate(() => window.notReloaded), true, 'the overview reloaded');
    await viewer.context.close();

    step = 'a deployer cancels a deploy, giving a reason';
    const doomed = await api('POST', '/deploys', DEPLOYER, {
      environment: 'production', version: '3.0', ignore_production_checks: OVERRIDE_REASON,
    });
    assert.ok([200, 202].includes(doomed.status), JSON.stringify(doomed.body));
    await page.goto(`${BASE}/deploys/${doomed.body.id}`);
    await page.getByRole('link', { name: 'Cancel deploy' }).click();
    await page.getByRole('heading', { name: `Cancel deploy #${doomed.body.id}` }).waitFor();
    await check(page, 'cancel-confirm');
    await page.getByLabel(/Reason/).fill(CANCEL_REASON);
    await page.getByRole('button', { name: 'Yes, cancel deploy' }).click();
    await page.locator('#deploy-state').getByText('cancelled').waitFor();

    step = 'a rollback with nothing to roll back to is refused, saying why';
    await page.getByRole('link', { name: 'Roll back production' }).click();
    await page.getByRole('heading', { name: 'Roll back production' }).waitFor();
    await check(page, 'rollback-confirm');
    await page.getByRole('button', { name: 'Yes, roll back production' }).click();
    // The refused rollback is recorded as a deploy, whose page says which guard refused.
    await page.locator('#deploy-state').getByText('refused').waitFor();
    await page.getByRole('definition').filter({ hasText: /roll/i }).first().waitFor();
    await check(page, 'rollback-refused');

    step = 'the overview shows locks and holds with who and why';
    let answer = await api('POST', '/locks', DEPLOYER, { environment: 'production', reason: LOCK_REASON });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    answer = await api('POST', '/holds', DEPLOYER, { package: 'app', environment: 'staging', reason: HOLD_REASON });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    await page.goto(BASE + '/');
    const productionRow = page.getByRole('row', { name: /production/ });
    await productionRow.getByText(`locked by deployer: ${LOCK_REASON}`).waitFor();
    await productionRow.getByText(`ignore-production-checks: ${OVERRIDE_REASON}`).waitFor();
    await page.getByRole('row', { name: /staging/ }).getByText(`app held by deployer: ${HOLD_REASON}`).waitFor();
    await check(page, 'overview-guards');

    step = 'a form without the session CSRF token is refused';
    const forged = await page.evaluate(async (target) => {
      const response = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'csrf=' + '0'.repeat(64) + '&reason=forged',
      });
      return response.status;
    }, `/deploys/${gatedId}/cancel`);
    assert.equal(forged, 403);

    step = 'the audit page shows the override reason';
    await page.goto(BASE + '/audit');
    const audit = page.getByRole('table', { name: /Audit entries/ });
    await audit.getByRole('cell', { name: new RegExp(OVERRIDE_REASON) }).first().waitFor();
    await audit.getByRole('cell', { name: CANCEL_REASON }).first().waitFor();
    await check(page, 'audit');
    await page.getByRole('link', { name: 'Verify the chain' }).click();
    await page.getByRole('status').filter({ hasText: 'unbroken' }).waitFor();

    step = 'history, with a diff of two deploys';
    await page.goto(BASE + '/history');
    await page.getByRole('link', { name: `#${gatedId}` }).waitFor();
    await page.getByLabel('Compare deploy').fill(String(id));
    await page.getByLabel('with deploy').fill(String(gatedId));
    await page.getByRole('button', { name: 'Compare' }).click();
    await page.getByRole('row', { name: /app 1\.0 2\.0 changed/ }).waitFor();
    await check(page, 'history');
    await page.getByLabel('State').selectOption('succeeded');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByRole('link', { name: `#${id}` }).waitFor();
    const states = await page.locator('tbody td:nth-child(4)').allTextContents();
    assert.ok(states.length > 0 && states.every((s) => s.includes('succeeded')),
      `the history filtered by state shows ${JSON.stringify(states)}`);
    await page.getByLabel('State').selectOption('interrupted');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByText('No deploys match these filters.').waitFor();

    step = 'repositories';
    await page.goto(BASE + '/repos');
    await page.getByRole('link', { name: 'tools' }).click();
    await page.getByRole('heading', { name: 'Repository tools' }).waitFor();
    await page.getByRole('rowheader', { name: 'hello' }).waitFor();
    await check(page, 'repository');
    await page.goto(BASE + '/repos');
    await page.getByRole('heading', { name: 'Health' }).waitFor();
    await page.getByText('repo tools — 1 packages').waitFor();
    await check(page, 'repositories');

    step = 'nodes';
    await page.goto(BASE + '/nodes');
    await page.getByRole('rowheader', { name: 'web03' }).waitFor();
    await page.getByRole('row', { name: /web02/ }).getByText('reached').waitFor();
    // What the staging deploy's install stage put on web01, from the deploy's own records.
    await page.getByRole('row', { name: /web01/ }).getByRole('cell', { name: 'app 1.0' }).waitFor();
    await page.getByLabel('Node set').fill('web[02-03]');
    await page.getByRole('button', { name: 'Select' }).click();
    await page.getByText('2 nodes in').waitFor();
    await check(page, 'nodes');

    step = 'keyboard: the skip link is the first stop, and it goes to the content';
    await page.goto(BASE + '/');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');

    step = 'a phone';
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${BASE}/deploys/${gatedId}`);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the deploy page is ${width}px wide on a 390px phone`);
    await check(page, 'deploy-phone');

    step = 'sign out';
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.goto(BASE + '/history');
    assert.match(page.url(), /\/login/);
  } finally {
    await browser.close();
  }
}

main().then(
  () => { console.log('dashboard e2e: all scenarios passed'); },
  (err) => {
    console.error(`dashboard e2e failed at step: ${step}\n${err && err.stack ? err.stack : err}`);
    process.exit(1);
  },
);
