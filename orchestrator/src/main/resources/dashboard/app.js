// Turnout dashboard: plain JavaScript, no build step. Reads the JSON API of docs/api.md and
// follows /api/events (server-sent events) to refresh what is on screen without a reload.
'use strict';

const REASONS = {
  BAD_SIGNATURE: 'the signature did not verify', UNKNOWN_KEY: 'signed with a key the device does not trust',
  WRONG_DEVICE: 'the desired state was for another device', REPLAY: 'an old desired state was sent again',
  DOWNGRADE: 'it would downgrade without a signed rollback', BELOW_FLOOR: "the release is below the app's rollback floor",
  EXPIRED: 'the desired state had expired',
  MALFORMED: 'the desired state could not be read', CLOCK_UNTRUSTED: 'the device clock cannot be trusted',
  NO_IMAGE_FOR_PLATFORM: "the release has no image for the device's platform", DOWNLOAD_FAILED: 'the download failed',
  SIZE_MISMATCH: 'the download had the wrong size', DIGEST_MISMATCH: 'the download had the wrong checksum',
  IMAGE_ID_MISMATCH: 'the image config is not the signed one', MANIFEST_MISMATCH: 'the image manifest is not the signed one',
  LAYER_MISMATCH: 'an image layer is not the signed one', EXTRA_IMAGE: 'the archive holds more than the signed image', DISK_FULL: 'not enough free disk space',
  ENGINE_ERROR: 'the container engine failed', CONTAINER_START_FAILED: 'the container did not start',
  HEALTH_CHECK_FAILED: 'the health check failed', CRASH_LOOP: 'the container kept crashing',
  ROLLBACK_FAILED: 'rolling back failed', TOO_MANY_ATTEMPTS: 'it gave up after too many attempts',
  INTERRUPTED: 'the update was interrupted (restart or power loss)', TIMEOUT: 'no ACTIVE report in time',
  LOCK_TIMEOUT: 'the app held its update lock too long', DRIFT: 'the container was changed behind the daemon’s back',
  MEMORY_LIMIT: 'the container used more memory than its limit', CPU_LIMIT: 'the container used more CPU than its limit for too long',
  DISK_LIMIT: "the device's disk was fuller than the release's limit", OOM_KILLED: 'the kernel killed the container for lack of memory',
  AGENT_START_FAILED: 'the new edge daemon exited at start; the previous one runs again',
  AGENT_NOT_CONNECTED: 'the new edge daemon did not connect in time; the previous one runs again',
};
const WAVE_COUNTS = [['pending', 'pending'], ['staged', 'staged'], ['activating', 'activating'], ['active', 'active'],
  ['failed', 'failed'], ['rollingBack', 'rolling back'], ['rolledBack', 'rolled back'], ['offline', 'offline']];
const BAR_COLOURS = { active: 'var(--ok)', activating: 'var(--info)', staged: '#7aa7e0', failed: 'var(--bad)',
  rollingBack: 'var(--warn)', rolledBack: '#e39a9d', pending: 'var(--idle)' };

const state = { events: [], health: {}, refreshTimer: null, route: null, source: null, session: null };
// what each role may do on this page; the server enforces the same (docs/security.md, "Roles")
const ROLE_RANK = { viewer: 1, deployer: 2, admin: 3 };
function may(least) { return (ROLE_RANK[state.session?.role] || 0) >= ROLE_RANK[least]; }
const view = () => document.getElementById('view');

function esc(v) {
  return String(v ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}
function plainReason(code) { return code ? (REASONS[code] || code.toLowerCase().replace(/_/g, ' ')) : ''; }
function badge(text, cls) { return `<span class="badge s-${esc(cls || text)}">${esc(text)}</span>`; }
function ago(iso) {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}
function clock(ms) { return new Date(ms).toISOString().substring(11, 19); }
// a running download (the device reports it every 2 s while staging; each report refreshes the list)
function download(d) {
  if (!d) return '';
  const mib = n => (n / (1 << 20)).toFixed(1);
  const rate = d.bytesPerSecond >= 1 << 20 ? `${mib(d.bytesPerSecond)} MiB/s` : `${Math.round(d.bytesPerSecond / 1024)} KiB/s`;
  return ` <span class="download"><progress max="${d.bytesTotal}" value="${d.bytesDone}"></progress>
    ${mib(d.bytesDone)}/${mib(d.bytesTotal)} MiB · ${rate}</span>`;
}
function bytes(n) { return n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : `${Math.round(n / (1 << 20))} MiB`; }

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: 'same-origin', ...options });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    showLogin('Your session ended: sign in again.');
    throw new Error('not signed in');
  }
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

// ---- sign in ------------------------------------------------------------------------------
// The server keeps a session for this browser in an HttpOnly, SameSite=Strict cookie (EventSource
// cannot send an Authorization header); the token itself is never stored by the page.
function showLogin(message) {
  if (state.source) { state.source.close(); state.source = null; }
  document.getElementById('live').textContent = 'offline';
  document.getElementById('live').className = 'live off';
  document.getElementById('logout').hidden = true;
  document.getElementById('who').hidden = true;
  document.getElementById('nav-admin').hidden = true;
  state.session = null;
  view().hidden = true;
  view().innerHTML = '';
  document.getElementById('login').hidden = false;
  document.getElementById('login-error').textContent = message || '';
  document.getElementById('login-token').focus();
}
function showApp(session) {
  state.session = session;
  const who = document.getElementById('who');
  who.textContent = `${session.name} (${session.role})`;
  who.hidden = false;
  document.getElementById('login').hidden = true;
  document.getElementById('logout').hidden = false;
  document.getElementById('nav-admin').hidden = !may('admin');
  view().hidden = false;
  if (!state.source) connectLive();
  route();
}
async function login(event) {
  event.preventDefault();
  const input = document.getElementById('login-token');
  const name = document.getElementById('login-name').value.trim();
  const credentials = name ? { name, password: input.value } : { token: input.value.trim() };
  const response = await fetch('/api/v1/session', { method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(credentials) });
  const body = await response.json().catch(() => ({}));
  input.value = '';
  if (!response.ok) {
    document.getElementById('login-error').textContent = body.error || `${response.status} ${response.statusText}`;
    return;
  }
  showApp(body);
}
async function logout() {
  await fetch('/api/v1/session', { method: 'DELETE', credentials: 'same-origin' }).catch(() => {});
  showLogin('Signed out.');
}
async function start() {
  document.getElementById('login-form').addEventListener('submit', e => login(e).catch(err => {
    document.getElementById('login-error').textContent = err.message;
  }));
  document.getElementById('logout').addEventListener('click', () => logout());
  const session = await fetch('/api/v1/session', { credentials: 'same-origin' }).then(r => r.json()).catch(() => ({}));
  if (session.authenticated && session.role) showApp(session); else showLogin();
}

// ---- live updates -------------------------------------------------------------------------
function connectLive() {
  const live = document.getElementById('live');
  const source = new EventSource('/api/events?lastEventId=0');
  state.source = source;
  source.onopen = () => { live.textContent = 'live'; live.className = 'live on'; };
  source.onerror = () => {
    live.textContent = 'reconnecting'; live.className = 'live off';
    // a refused stream (401) is not retried by the browser: find out whether the session ended
    fetch('/api/v1/session', { credentials: 'same-origin' }).then(r => r.json()).then(s => {
      if (!s.authenticated) showLogin('Your session ended: sign in again.');
    }).catch(() => {});
  };
  for (const kind of ['status', 'health', 'presence', 'rollout']) {
    source.addEventListener(kind, message => {
      const event = JSON.parse(message.data);
      // a download's progress report (every 2 s per downloading device): shown by the next refresh, not kept as an event
      const progress = kind === 'status' && event.payload.state === 'DOWNLOADING' && event.payload.download;
      if (!progress) {
        state.events.push(event);
        if (state.events.length > 1000) state.events.shift();
      }
      if (kind === 'health') state.health[event.payload.deviceId] = event.payload;
      scheduleRefresh(progress ? 2000 : 200);
    });
  }
}
function scheduleRefresh(delay = 200) {
  if (delay > 200 && state.refreshTimer) return; // a fleet staging at once: one refresh on its way is enough
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(() => { state.refreshTimer = null; refresh().catch(showError); }, delay);
}
function showError(e) {
  const box = document.getElementById('page-error');
  if (box) box.textContent = e.message;
}

// ---- routing ------------------------------------------------------------------------------
function route() {
  const hash = location.hash || '#/';
  let m;
  if ((m = hash.match(/^#\/rollouts\/([^/]+)$/))) state.route = { name: 'rollout', id: decodeURIComponent(m[1]) };
  else if ((m = hash.match(/^#\/devices\/([^/]+)$/))) state.route = { name: 'device', id: decodeURIComponent(m[1]) };
  else if (hash === '#/admin') state.route = { name: 'admin' };
  else state.route = { name: 'fleet' };
  ({ fleet: fleetSkeleton, rollout: rolloutSkeleton, device: deviceSkeleton, admin: adminSkeleton })[state.route.name]();
  refresh().catch(showError);
}
async function refresh() {
  const r = state.route;
  if (r.name === 'fleet') return refreshFleet();
  if (r.name === 'rollout') return refreshRollout(r.id);
  if (r.name === 'admin') return refreshAdmin();
  return refreshDevice(r.id);
}

// ---- fleet view ---------------------------------------------------------------------------
function fleetSkeleton() {
  view().innerHTML = `
    <h1>Fleet</h1>
    <div class="summary" id="summary"></div>
    <div class="filters">
      <input id="search" type="search" placeholder="Search device id" aria-label="Search device id">
      <select id="label-filter" aria-label="Filter by label or group"><option value="">All labels and groups</option></select>
      <select id="state-filter" aria-label="Filter by state"><option value="">Any state</option></select>
    </div>
    <p id="page-error" class="error"></p>
    <table id="fleet-table"><thead><tr><th>Device</th><th>Labels</th><th>Presence</th><th>Apps (running / desired / state)</th>
      <th>Health</th></tr></thead><tbody></tbody></table>
    <h2>Rollouts</h2>
    <table id="rollouts-table"><thead><tr><th>Rollout</th><th>Release</th><th>Target</th><th>State</th><th>Wave</th>
      <th>Updated</th></tr></thead><tbody></tbody></table>`;
  for (const id of ['search', 'label-filter', 'state-filter']) {
    for (const type of ['input', 'change']) document.getElementById(id).addEventListener(type, () => renderFleetRows());
  }
}
async function refreshFleet() {
  const [devices, rollouts, health] = await Promise.all([api('/api/v1/devices'), api('/api/v1/rollouts'), api('/api/v1/fleet/health')]);
  if (state.route.name !== 'fleet') return;
  Object.assign(state.health, health.devices);
  state.devices = devices.devices;
  const online = state.devices.filter(d => d.online).length;
  const running = rollouts.rollouts.filter(r => !r.terminal).length;
  document.getElementById('summary').innerHTML =
    `<div class="card" id="count-devices"><b>${state.devices.length}</b>devices</div>` +
    `<div class="card" id="count-online"><b>${online}</b>online</div>` +
    `<div class="card" id="count-offline"><b>${state.devices.length - online}</b>offline</div>` +
    `<div class="card" id="count-rollouts"><b>${running}</b>rollouts in progress</div>`;
  fillOptions('label-filter', [...new Set(state.devices.flatMap(d =>
    Object.entries(d.labels).map(([k, v]) => `label:${k}=${v}`).concat(d.groups.map(g => `group:${g}`))))].sort());
  fillOptions('state-filter', ['online', 'offline', ...new Set(state.devices.flatMap(d => d.apps.map(a => a.state).filter(Boolean)))]);
  renderFleetRows();
  document.querySelector('#rollouts-table tbody').innerHTML = rollouts.rollouts.slice(0, 20).map(r => `
    <tr data-rollout="${esc(r.id)}"><td><a href="#/rollouts/${encodeURIComponent(r.id)}">${esc(r.id)}</a></td>
      <td>${esc(r.app)}:${esc(r.version)}</td><td>${esc(r.target)}</td>
      <td>${badge(r.state)} <span class="muted">${esc(r.reason || '')}</span></td>
      <td>${r.currentWave} / ${r.waves.length}</td><td>${esc(ago(r.updatedAt))}</td></tr>`).join('')
    || '<tr><td colspan="6" class="muted">No rollouts yet.</td></tr>';
}
function fillOptions(id, values) {
  const select = document.getElementById(id);
  const known = new Set([...select.options].map(o => o.value));
  for (const v of values) {
    if (!known.has(v)) select.add(new Option(v, v));
  }
}
function renderFleetRows() {
  const search = document.getElementById('search').value.trim().toLowerCase();
  const label = document.getElementById('label-filter').value;
  const wanted = document.getElementById('state-filter').value;
  const rows = (state.devices || []).filter(d => {
    if (search && !d.id.toLowerCase().includes(search)) return false;
    if (label.startsWith('label:')) {
      const [k, v] = label.substring(6).split(/=(.*)/s);
      if (d.labels[k] !== v) return false;
    }
    if (label.startsWith('group:') && !d.groups.includes(label.substring(6))) return false;
    if (wanted === 'online' && !d.online) return false;
    if (wanted === 'offline' && d.online) return false;
    if (wanted && wanted !== 'online' && wanted !== 'offline' && !d.apps.some(a => a.state === wanted)) return false;
    return true;
  });
  document.querySelector('#fleet-table tbody').innerHTML = rows.map(d => {
    const h = state.health[d.id];
    const labels = Object.entries(d.labels).map(([k, v]) => `<span class="chip">${esc(k)}=${esc(v)}</span>`).join('')
      + d.groups.map(g => `<span class="chip">group ${esc(g)}</span>`).join('');
    const apps = d.apps.map(a => `<div class="app" data-app="${esc(a.app)}"><b>${esc(a.app)}</b>
        <span class="running">${esc(a.runningVersion || '—')}</span> /
        <span class="desired">${esc(a.desiredVersion || '—')}${a.phase ? ` (${esc(a.phase.toLowerCase())})` : ''}</span>
        <span class="state">${a.state ? badge(a.state) : ''}</span>${download(a.download)}
        ${a.reason ? `<span class="muted">${esc(plainReason(a.reason))}</span>` : ''}</div>`).join('') || '<span class="muted">none</span>';
    const health = h ? `CPU ${h.cpuPercent.toFixed(0)}% · mem ${bytes(h.memoryUsedBytes)}/${bytes(h.memoryTotalBytes)}
        · disk free ${bytes(h.diskFreeBytes)}${h.temperatureCelsius != null ? ` · ${h.temperatureCelsius.toFixed(0)} °C` : ''}`
      : '<span class="muted">no report</span>';
    return `<tr data-device="${esc(d.id)}"><td><a href="#/devices/${encodeURIComponent(d.id)}">${esc(d.id)}</a>
        <div class="muted">${esc(d.platform || '')}</div></td><td>${labels}</td>
      <td class="online">${badge(d.online ? 'online' : 'offline')}<div class="muted">seen ${esc(ago(d.lastSeen))}</div></td>
      <td class="apps">${apps}</td><td class="health">${health}</td></tr>`;
  }).join('') || '<tr><td colspan="5" class="muted">No device matches.</td></tr>';
}

// ---- rollout view -------------------------------------------------------------------------
function rolloutSkeleton() {
  view().innerHTML = `
    <p><a href="#/">← Fleet</a></p>
    <h1 id="rollout-title">Rollout</h1>
    <p>${'<span id="rollout-state"></span>'} <span id="rollout-reason" class="muted"></span></p>
    <div class="actions" ${may('deployer') ? '' : 'hidden'}>
      <button id="btn-pause" data-action="pause">Pause</button>
      <button id="btn-resume" data-action="resume">Resume</button>
      <button id="btn-approve" data-action="approve">Approve next wave</button>
      <button id="btn-rollback" data-action="rollback" class="danger">Roll back</button>
      <button id="btn-abort" data-action="abort" class="danger">Abort</button>
    </div>
    <p id="page-error" class="error"></p>
    <table id="waves-table"><thead><tr><th>Wave</th><th>State</th><th>Progress</th>
      ${WAVE_COUNTS.map(([, label]) => `<th>${label}</th>`).join('')}</tr></thead><tbody></tbody></table>
    <div class="grid">
      <div><h2>Devices</h2><table id="rollout-devices"><thead><tr><th>Device</th><th>Wave</th><th>State</th><th>Version</th>
        <th>Why</th></tr></thead><tbody></tbody></table></div>
      <div><h2>Timeline</h2><ul class="timeline" id="timeline"></ul></div>
    </div>`;
  for (const button of document.querySelectorAll('.actions button')) {
    if (!may('deployer')) { button.disabled = true; continue; } // a viewer: the server would refuse (403)
    button.addEventListener('click', () => rolloutAction(button.dataset.action));
  }
}
async function refreshRollout(id) {
  const [r, audit] = await Promise.all([api(`/api/v1/rollouts/${encodeURIComponent(id)}`),
    api(`/api/v1/audit?subject=${encodeURIComponent(id)}`)]);
  if (state.route.name !== 'rollout' || state.route.id !== id) return;
  state.rollout = r;
  document.getElementById('rollout-title').textContent = `Rollout ${r.id}: ${r.app} ${r.version} to ${r.target}`;
  document.getElementById('rollout-state').innerHTML = badge(r.state);
  document.getElementById('rollout-reason').textContent = r.reason || '';
  const waiting = (r.reason || '').startsWith('waiting for approval');
  if (!may('deployer')) {
    for (const button of document.querySelectorAll('.actions button')) button.disabled = true;
  } else {
    document.getElementById('btn-pause').disabled = r.state !== 'RUNNING';
    document.getElementById('btn-resume').disabled = r.state !== 'PAUSED';
    document.getElementById('btn-approve').disabled = !(r.state === 'RUNNING' && waiting);
    document.getElementById('btn-abort').disabled = r.terminal;
    document.getElementById('btn-rollback').disabled = !(r.state === 'RUNNING' || r.state === 'PAUSED');
  }
  document.querySelector('#waves-table tbody').innerHTML = r.waves.map(w => {
    const total = w.devices.length || 1;
    const bar = ['active', 'activating', 'staged', 'failed', 'rollingBack', 'rolledBack', 'pending']
      .map(k => `<span style="width:${(100 * w.counts[k] / total).toFixed(1)}%;background:${BAR_COLOURS[k]}" title="${k}"></span>`).join('');
    return `<tr data-wave="${w.number}"><td>${w.number}</td><td class="wave-state">${badge(w.state)}</td>
      <td><div class="bar">${bar}</div></td>
      ${WAVE_COUNTS.map(([k]) => `<td class="c-${k}">${w.counts[k]}</td>`).join('')}</tr>`;
  }).join('');
  document.querySelector('#rollout-devices tbody').innerHTML = r.devices.map(d => `
    <tr data-device="${esc(d.id)}"><td><a href="#/devices/${encodeURIComponent(d.id)}">${esc(d.id)}</a></td><td>${d.wave}</td>
      <td>${badge(d.state)}</td><td>${esc(d.version || '')}</td>
      <td>${esc(plainReason(d.reason))}${d.message ? ` <span class="muted">${esc(d.message)}</span>` : ''}</td></tr>`).join('');
  const items = state.events.filter(e => e.kind === 'rollout' && e.payload.rolloutId === id).map(e => ({
    at: e.payload.timestampMs,
    text: `${e.payload.type.toLowerCase().replace(/_/g, ' ')}${e.payload.wave ? ` (wave ${e.payload.wave})` : ''}`
      + `${e.payload.deviceId ? ` ${e.payload.deviceId}` : ''}: ${e.payload.message}`,
  })).concat(audit.entries.filter(e => e.actor !== 'engine').map(e => ({
    at: Date.parse(e.at), text: `${e.actor}: ${e.action.replace('rollout.', '')}${e.detail ? ` ${e.detail}` : ''}`,
  }))).sort((a, b) => b.at - a.at);
  document.getElementById('timeline').innerHTML = items.map(i =>
    `<li><time>${clock(i.at)}</time>${esc(i.text)}</li>`).join('') || '<li class="muted">Nothing yet.</li>';
}
async function rolloutAction(action) {
  const r = state.rollout;
  const words = { pause: 'Pause', resume: 'Resume', approve: 'Approve the next wave of', abort: 'Abort', rollback: 'Roll back every device updated by' }[action];
  if (!(await confirmAction(`${words} rollout ${r.id} (${r.app} ${r.version})?`))) return;
  try {
    await api(`/api/v1/rollouts/${encodeURIComponent(r.id)}/${action}`, { method: 'POST' });
    document.getElementById('page-error').textContent = '';
  } catch (e) {
    showError(e);
  }
  await refresh();
}
function confirmAction(text) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise(resolve => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }));
}

// ---- device view --------------------------------------------------------------------------
function deviceSkeleton() {
  view().innerHTML = `
    <p><a href="#/">← Fleet</a></p>
    <h1 id="device-title">Device</h1>
    <p id="device-summary"></p>
    <p id="page-error" class="error"></p>
    <table id="device-apps"><thead><tr><th>App</th><th>Running</th><th>Desired</th><th>State</th><th>Why</th><th>Updated</th></tr></thead>
      <tbody></tbody></table>
    <div class="grid">
      <div><h2>Recent status</h2><ul class="timeline" id="device-status"></ul></div>
      <div><h2>History</h2><ul class="timeline" id="device-audit"></ul></div>
    </div>`;
}
// the last lines of a failed container's log (the app's own output, shown as text, never as HTML)
function logTail(text, open) {
  if (!text) return '';
  const lines = text.split('\n').length;
  return `<details class="log-tail"${open ? ' open' : ''}><summary>Last ${lines} log line${lines === 1 ? '' : 's'} of the container</summary>`
    + `<pre>${esc(text)}</pre></details>`;
}
async function refreshDevice(id) {
  const [d, audit, health] = await Promise.all([api(`/api/v1/devices/${encodeURIComponent(id)}`),
    api(`/api/v1/audit?subject=${encodeURIComponent(id)}`), api('/api/v1/fleet/health')]);
  if (state.route.name !== 'device' || state.route.id !== id) return;
  const h = health.devices[id];
  document.getElementById('device-title').textContent = `Device ${d.id}`;
  document.getElementById('device-summary').innerHTML = `${badge(d.online ? 'online' : 'offline')} seen ${esc(ago(d.lastSeen))}
    · ${esc(d.platform || 'platform unknown')} · ${Object.entries(d.labels).map(([k, v]) => `<span class="chip">${esc(k)}=${esc(v)}</span>`).join('')}
    ${h ? ` · CPU ${h.cpuPercent.toFixed(0)}%${h.temperatureCelsius != null ? `, ${h.temperatureCelsius.toFixed(0)} °C` : ''}` : ''}`;
  document.querySelector('#device-apps tbody').innerHTML = d.apps.map(a => `<tr data-app="${esc(a.app)}"><td>${esc(a.app)}</td>
    <td>${esc(a.runningVersion || '—')}</td><td>${esc(a.desiredVersion || '—')} ${a.phase ? `(${esc(a.phase.toLowerCase())})` : ''}</td>
    <td>${a.state ? badge(a.state) : ''}</td><td>${esc(plainReason(a.reason))} <span class="muted">${esc(a.message || '')}</span>
    ${logTail(a.logTail, true)}</td>
    <td>${esc(ago(a.updatedAt))}</td></tr>`).join('') || '<tr><td colspan="6" class="muted">No app reported yet.</td></tr>';
  const recent = state.events.filter(e => e.kind === 'status' && e.payload.deviceId === id).slice(-50).reverse();
  document.getElementById('device-status').innerHTML = recent.map(e => {
    const p = e.payload;
    const why = p.reason && p.reason !== 'REASON_UNSPECIFIED' ? ` because ${plainReason(p.reason)}` : '';
    return `<li><time>${clock(Date.parse(e.receivedAt))}</time>${esc(p.app)} ${esc(p.version)} ${badge(p.state)}${esc(why)}
      ${p.message ? `<span class="muted">${esc(p.message)}</span>` : ''}</li>`;
  }).join('') || '<li class="muted">No status since this page opened.</li>';
  document.getElementById('device-audit').innerHTML = audit.entries.map(e => {
    const detail = (e.detail || '').replace(/\b[A-Z][A-Z_]+[A-Z]\b/g, w => (REASONS[w] ? `(${REASONS[w]})` : w));
    return `<li><time>${clock(Date.parse(e.at))}</time>${esc(e.action)} <span class="muted">by ${esc(e.actor)}</span> ${esc(detail)}
      ${logTail(e.logTail, false)}</li>`;
  }).join('') || '<li class="muted">No history.</li>';
}

// ---- admin view: signing keys, webhooks, operator accounts (admins only; the server enforces it) ----
function adminSkeleton() {
  view().innerHTML = `
    <h1>Admin</h1>
    <p id="page-error" class="error"></p>
    <h2>Signing keys</h2>
    <p class="muted">Devices trust these keys (docs/security.md, “Signing-key rotation”). Rotate announces a new key inside
      desired states the active key signs; activate it once every device trusts it; retire a previous key once no bundle
      signed by it is needed.</p>
    <div class="actions" id="key-actions">
      <button id="key-rotate">Rotate</button>
      <button id="key-activate" disabled>Activate the next key</button>
    </div>
    <table id="keys-table"><thead><tr><th>Key</th><th>Role</th><th>Devices trusting it</th><th></th></tr></thead><tbody></tbody></table>
    <p id="keys-note" class="muted"></p>
    <h2>Webhooks</h2>
    <table id="webhooks-table"><thead><tr><th>Webhook</th><th>URL</th><th>Events</th><th>Added</th></tr></thead><tbody></tbody></table>
    <h3>Recent deliveries</h3>
    <table id="deliveries-table"><thead><tr><th>At</th><th>Webhook</th><th>Event</th><th>Result</th><th>Status</th>
      <th>Attempts</th><th>Error</th></tr></thead><tbody></tbody></table>
    <h2>Operator accounts</h2>
    <table id="operators-table"><thead><tr><th>Name</th><th>Role</th><th>Added</th></tr></thead><tbody></tbody></table>
    <h2>Backup</h2>
    <p><a id="backup-download" href="/api/v1/backup" download>Download a backup</a> <span class="muted">— the store, the signing
      keys, the tokens and secrets and the image archives, consistent while the server runs (<a
      href="/api/v1/backup?artifacts=false" id="backup-download-small" download>without the image archives</a>). It holds every
      secret: keep it like the data directory. Restore with <code>turnout restore FILE --data DIR</code>.</span></p>`;
  document.getElementById('key-rotate').addEventListener('click', () => keyAction('rotate'));
  document.getElementById('key-activate').addEventListener('click', () => keyAction('activate'));
  document.getElementById('keys-table').addEventListener('click', e => {
    const id = e.target.dataset?.retire;
    if (id) keyAction('retire', id);
  });
}
async function refreshAdmin() {
  const [keys, hooks, deliveries, operators] = await Promise.all([api('/api/v1/keys'), api('/api/v1/webhooks'),
    api('/api/v1/webhooks/deliveries?limit=20'), api('/api/v1/operators')]);
  if (state.route.name !== 'admin') return;
  state.keys = keys;
  const next = keys.keys.find(k => k.role === 'next');
  document.getElementById('key-rotate').disabled = !!next;
  document.getElementById('key-activate').disabled = !next;
  document.querySelector('#keys-table tbody').innerHTML = keys.keys.map(k => `<tr data-key="${esc(k.keyId)}">
    <td><code>${esc(k.keyId)}</code></td><td>${badge(k.role, `key-${k.role}`)}</td>
    <td class="trusting">${k.devicesTrusting} of ${keys.devices}</td>
    <td>${k.role === 'previous' ? `<button data-retire="${esc(k.keyId)}">Retire</button>` : ''}</td></tr>`).join('');
  document.getElementById('keys-note').textContent = (next && keys.notTrustingNextCount
    ? `${keys.notTrustingNextCount} device(s) do not trust the next key yet: ${keys.notTrustingNext.join(', ')}. ` : '')
    + (keys.devicesUnknown ? `${keys.devicesUnknown} device(s) have not said which keys they trust since the server started.` : '');
  const names = Object.fromEntries(hooks.webhooks.map(w => [w.id, w.url]));
  document.querySelector('#webhooks-table tbody').innerHTML = hooks.webhooks.map(w => `<tr data-webhook="${esc(w.id)}">
    <td><code>${esc(w.id)}</code></td><td>${esc(w.url)}</td><td>${w.events.map(e => `<span class="chip">${esc(e)}</span>`).join('')}</td>
    <td>${esc(ago(w.createdAt))}</td></tr>`).join('')
    || '<tr><td colspan="4" class="muted">No webhook: add one with <code>turnout webhook add URL --events …</code></td></tr>';
  document.querySelector('#deliveries-table tbody').innerHTML = deliveries.deliveries.map(d => `<tr>
    <td>${esc(ago(d.at))}</td><td title="${esc(names[d.webhookId] || '')}"><code>${esc(d.webhookId)}</code></td><td>${esc(d.event)}</td>
    <td>${badge(d.result, d.result === 'DELIVERED' ? 'DONE' : 'FAILED')}</td><td>${esc(d.statusCode ?? '')}</td>
    <td>${d.attempts}</td><td class="muted">${esc(d.error || '')}</td></tr>`).join('')
    || '<tr><td colspan="7" class="muted">No delivery yet.</td></tr>';
  document.querySelector('#operators-table tbody').innerHTML = operators.operators.map(o => `<tr>
    <td>${esc(o.name)}</td><td>${esc(o.role)}</td><td>${esc(o.createdAt ? ago(o.createdAt) : '')}</td></tr>`).join('');
}
async function keyAction(action, keyId) {
  const next = state.keys?.keys.find(k => k.role === 'next');
  const text = { rotate: 'Announce a new signing key to every device?',
    activate: `Sign with key ${next?.keyId} from now on?`, retire: `Make every device stop trusting key ${keyId}?` }[action];
  if (!(await confirmAction(text))) return;
  try {
    if (action === 'retire') await api(`/api/v1/keys/${encodeURIComponent(keyId)}`, { method: 'DELETE' });
    else await api(`/api/v1/keys/${action}`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: action === 'activate' ? JSON.stringify({ force: false }) : undefined });
    document.getElementById('page-error').textContent = '';
  } catch (e) {
    showError(e);
  }
  await refresh();
}

window.addEventListener('hashchange', () => { if (!view().hidden) route(); });
start();
