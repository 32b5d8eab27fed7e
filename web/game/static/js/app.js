// app.js: the game screen. It holds the server's latest player document,
// renders the HUD and the panels from it, and turns clicks into actions.
// Nothing is applied locally: every action goes to the server, and the
// view is redrawn from the player the server sends back (after a refused
// action too, so a failed move snaps back).

import { Rules, plain, fmt, dur, costText } from './rules.js';
import { View } from './view.js';

const $ = (sel) => document.querySelector(sel);

function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'disabled') el.disabled = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false) el.append(kid instanceof Node ? kid : String(kid));
  return el;
}

export class App {
  constructor(net) {
    this.net = net;
    this.rules = null;
    this.player = null;
    this.view = new View($('#game'));
    this.view.now = () => net.now();
    this.panel = null; // {kind, id?}
    this.waiting = new Map(); // seq -> {name, args, then} for pending async actions
    this.handlers = new Map(); // seq -> callback(result)
    this.raid = { phase: 'idle', retry: 0 };
    this.ranks = null;
    this.accountInfo = null;
    this.refetchTimer = 0;

    net.onPlayer = (p) => this.setPlayer(p);
    net.onResults = (rs) => this.results(rs);
    net.onEvent = (ev) => this.event(ev);
    net.onStatus = (s) => this.status(s);
    net.onReplaced = () => this.replaced();

    this.view.onTap = (x, y, b) => this.tap(x, y, b);
    this.view.onMoveEnd = (b, x, y) => this.moveBuilding(b, x, y);
    this.view.onGhostMove = () => this.placeText();
    this.view.onCollect = (b) => this.collect(b);

    for (const btn of document.querySelectorAll('#toolbar [data-open]')) {
      btn.addEventListener('click', () => this.toggle(btn.dataset.open));
    }
    $('#panel-close').addEventListener('click', () => this.close());
    $('#place-ok').addEventListener('click', () => this.place());
    $('#place-cancel').addEventListener('click', () => this.stopPlacing());
    $('#debug-toggle').addEventListener('click', () => this.toggleDebug());
    $('#debug-cut').addEventListener('click', () => this.net.cut(1500));
    $('#debug-lose').addEventListener('click', () => { this.net.loseNextReply = true; this.renderDebug(); });
    window.addEventListener('keydown', (e) => {
      if (e.key === '`') this.toggleDebug();
      if (e.key === 'Escape') { this.stopPlacing(); this.close(); }
    });
    setInterval(() => this.tick(), 500);
  }

  async loadRules() {
    const gd = await this.net.gamedata();
    this.rules = new Rules(gd);
    this.view.setRules(this.rules);
    if (this.player) this.render();
  }

  get base() { return this.player && this.player.base; }

  setPlayer(p) {
    this.player = p;
    // Moves the server accepted are in this player now; moves still in
    // flight keep showing where they were dropped.
    for (const [id, m] of this.view.pending) if (m.acked) this.view.pending.delete(id);
    this.view.setBase(p.base);
    if (this.rules && p.base.gd && p.base.gd !== this.rules.version) this.loadRules();
    for (const a of p.async || []) if (this.waiting.has(a.seq)) this.asyncDone(a);
    $('#app').dataset.state = 'ready';
    this.render();
  }

  // refetch asks for the server's player soon (once for a burst).
  refetch() {
    clearTimeout(this.refetchTimer);
    this.refetchTimer = setTimeout(() => {
      this.net.fetchPlayer().catch((e) => {
        if (e.status === 401 && this.net.status !== 'replaced') this.net.cut(); // the socket signs in again
        else if (e.status === 429 || e.status === 503 || e.status === 0) setTimeout(() => this.refetch(), 1000);
      });
    }, 30);
  }

  act(name, args, then) {
    const seq = this.net.send(name, args);
    if (then) this.handlers.set(seq, then);
    this.renderDebug();
    return seq;
  }

  results(rs) {
    for (const r of rs) {
      const then = this.handlers.get(r.seq);
      this.handlers.delete(r.seq);
      if (!r.ok) {
        this.toast(refusal(r), true);
        if (then) then(r);
        continue;
      }
      if (r.pending) {
        this.waiting.set(r.seq, { name: r.name, then });
        continue;
      }
      if (then) then(r);
    }
    this.refetch();
    this.renderDebug();
  }

  event(ev) {
    switch (ev.kind) {
      case 'async_result':
        this.asyncDone(ev);
        this.refetch();
        return;
      case 'upgrade_done': {
        const bt = this.rules && this.rules.type(ev.type);
        this.toast(`${bt ? bt.name : ev.type} reached level ${ev.level}`);
        this.refetch();
        return;
      }
      case 'training_done': {
        const n = Object.entries(ev.units || {}).map(([u, k]) => `${k} ${(this.rules.units.get(u) || { name: u }).name}`).join(', ');
        this.toast(`Trained: ${n}`);
        this.refetch();
        return;
      }
      case 'raided': {
        const r = ev.raid || {};
        this.toast(`${r.attacker || 'Someone'} raided your base: ${r.stars || 0}★`, true);
        this.refetch();
        return;
      }
      case 'gamedata':
        this.loadRules().then(() => this.refetch());
        return;
      case 'error':
        this.toast(plain(ev.error), true);
        return;
      default:
        this.refetch();
    }
  }

  asyncDone(a) {
    const w = this.waiting.get(a.seq);
    if (!w) return;
    this.waiting.delete(a.seq);
    if (!a.ok) this.toast(refusal(a), true);
    if (w.then) w.then(a);
  }

  status(s) {
    const el = $('#status');
    el.dataset.status = s;
    el.textContent = { online: 'Online', connecting: 'Connecting…', reconnecting: 'Reconnecting…', replaced: 'Signed in elsewhere', offline: 'Offline' }[s] || s;
    this.renderDebug();
  }

  replaced() {
    $('#overlay-text').textContent = 'You signed in on another device or tab. This one is paused.';
    const b = $('#overlay-button');
    b.textContent = 'Play here';
    b.onclick = () => { location.reload(); };
    $('#overlay').hidden = false;
  }

  toast(text, err = false) {
    const t = h('div', { class: `toast${err ? ' err' : ''}`, role: err ? 'alert' : 'status' }, text);
    $('#toasts').append(t);
    setTimeout(() => t.remove(), err ? 5000 : 3000);
    while ($('#toasts').children.length > 4) $('#toasts').firstChild.remove();
  }

  // --- HUD ---

  render() {
    if (!this.rules || !this.player) return;
    const base = this.base;
    const cap = this.rules.capacity(base);
    for (const r of ['gold', 'elixir', 'gems']) {
      const el = $(`#res-${r}`);
      el.querySelector('b').textContent = fmt(base.res[r] || 0);
      const small = el.querySelector('small');
      if (small) small.textContent = `/${fmt(cap[r] || 0)}`;
      el.dataset.value = base.res[r] || 0;
    }
    $('#trophies b').textContent = base.trophies || 0;
    const bl = this.rules.builders(base);
    $('#builders b').textContent = `${bl.free}/${bl.total}`;
    const ho = this.rules.housing(base);
    const trained = Object.values(base.army || {}).reduce((a, b) => a + b, 0);
    $('#army b').textContent = `${ho.used}/${ho.cap}`;
    $('#army').dataset.trained = trained;
    this.renderPanel();
    this.renderDebug();
  }

  tick() {
    // Timers count down in place; the panel is rebuilt only on changes.
    const now = this.net.now();
    for (const el of document.querySelectorAll('[data-until]')) {
      el.textContent = dur(Number(el.dataset.until) - now);
    }
    for (const el of document.querySelectorAll('[data-ready]')) {
      const b = this.base && this.base.bld.find((x) => x.id === el.dataset.ready);
      if (b) el.textContent = String(this.rules.ready(this.base, b, now));
    }
    for (const el of document.querySelectorAll('[data-gems-for]')) {
      const n = this.rules.speedUpCost(Number(el.dataset.gemsFor) - now);
      el.textContent = `Speed up (${n} gems)`;
    }
    const due = this.base && this.base.bld.some((b) => b.done && b.done <= now - 1500);
    if (due && !this.dueAsked) { this.dueAsked = true; this.refetch(); } // a push may have raced a reload
    if (!due) this.dueAsked = false;
    if (!$('#debug').hidden) this.renderDebug();
  }

  // --- panels ---

  toggle(kind) {
    if (this.panel && this.panel.kind === kind) { this.close(); return; }
    this.open(kind);
  }

  open(kind, id) {
    this.stopPlacing();
    this.panel = { kind, id };
    if (kind !== 'building') this.view.selected = null;
    if (kind === 'ranks') this.loadRanks();
    if (kind === 'account') this.loadAccount();
    this.renderPanel();
  }

  close() {
    this.panel = null;
    this.view.selected = null;
    $('#panel').hidden = true;
  }

  renderPanel(force = false) {
    const p = this.panel;
    if (!p || !this.rules || !this.player) { $('#panel').hidden = true; return; }
    // A form keeps what is typed in it: the account panel is drawn once
    // when opened, not on every player update.
    if (p.kind === 'account' && p.drawn && !force) return;
    p.drawn = true;
    const body = $('#panel-body');
    let title = '';
    let content;
    switch (p.kind) {
      case 'building': {
        const b = this.base.bld.find((x) => x.id === p.id);
        // Gone, not in the player yet (just built), or of a type the game
        // data no longer has.
        if (!b || !this.rules.type(b.t)) { $('#panel').hidden = true; return; }
        title = `${this.rules.type(b.t).name} · level ${b.lv}`;
        content = this.buildingPanel(b);
        break;
      }
      case 'build': title = 'Build'; content = this.buildPanel(); break;
      case 'store': title = 'Store'; content = this.storePanel(); break;
      case 'raid': title = 'Raid'; content = this.raidPanel(); break;
      case 'ranks': title = 'Leaderboard'; content = this.ranksPanel(); break;
      case 'log': title = 'Raid log'; content = this.logPanel(); break;
      case 'account': title = 'Account'; content = this.accountPanel(); break;
      default: return;
    }
    $('#panel-title').textContent = title;
    $('#panel').dataset.kind = p.kind;
    body.replaceChildren(content);
    $('#panel').hidden = false;
  }

  tap(x, y, b) {
    if (this.view.ghost) {
      const g = this.view.ghost;
      g.x = Math.max(0, Math.min(this.view.grid.w - g.w, x - Math.floor((g.w - 1) / 2)));
      g.y = Math.max(0, Math.min(this.view.grid.h - g.h, y - Math.floor((g.h - 1) / 2)));
      this.placeText();
      return;
    }
    if (!b) { this.close(); return; }
    this.view.selected = b.id;
    this.open('building', b.id);
    this.view.selected = b.id;
  }

  buildingPanel(b) {
    const r = this.rules;
    const bt = r.type(b.t);
    const now = this.net.now();
    const cur = r.level(b.t, b.lv);
    const next = r.level(b.t, b.lv + 1);
    const wrap = h('div', { 'data-building': b.id });
    const kv = h('dl', { class: 'kv' });
    const add = (k, v) => kv.append(h('dt', {}, k), h('dd', {}, v));
    if (b.lv === 0) add('Status', 'under construction');
    if (cur && cur.rate) add('Produces', `${cur.rate} ${r.resName(bt.resource)}/h, holds ${cur.capacity}`);
    if (cur && cur.storage) add('Stores', costText(r, cur.storage));
    if (cur && cur.dps) add('Damage', `${cur.dps}/s, range ${cur.range}`);
    if (cur && cur.housing) add('Houses', `${cur.housing} units`);
    if (cur && cur.builders) add('Builders', cur.builders);
    if (cur && cur.queue) add('Queue', `${cur.queue} units`);
    if (cur) add('Hit points', cur.hp);
    wrap.append(kv);
    const acts = h('div', { class: 'actions' });
    if (b.done) {
      const bar = h('div', { class: 'bar' }, h('i', { style: `width:${Math.round(100 * Math.max(0, 1 - (b.done - now) / (((next && next.time_s) || 1) * 1000)))}%` }));
      wrap.append(h('div', {}, b.lv === 0 ? 'Building… ' : `Upgrading to ${b.lv + 1}… `, h('span', { 'data-until': b.done }, dur(b.done - now))), bar);
      acts.append(
        h('button', { class: 'gems', 'data-act': 'speed_up', 'data-gems-for': b.done, onclick: () => this.act('speed_up', { building_id: b.id, kind: 'upgrade' }) },
          `Speed up (${r.speedUpCost(b.done - now)} gems)`),
        h('button', { class: 'danger', 'data-act': 'cancel_upgrade', onclick: () => this.act('cancel_upgrade', { building_id: b.id }) }, b.lv === 0 ? 'Cancel build' : 'Cancel upgrade'),
      );
    } else if (next) {
      const why = r.canUpgrade(this.base, b);
      acts.append(h('button', { class: 'primary', 'data-act': 'upgrade_building', disabled: !!why && why !== 'Busy', title: why,
        onclick: () => this.act('upgrade_building', { building_id: b.id }) },
      `Upgrade to ${next.level}: ${costText(r, next.cost)}, ${next.time_s ? dur(next.time_s * 1000) : 'instant'}`));
      if (why) acts.append(h('div', { class: 'why' }, why));
    } else {
      acts.append(h('div', { class: 'sub' }, 'Highest level'));
    }
    if (bt.kind === 'harvester') {
      const n = r.ready(this.base, b, now);
      acts.append(h('button', { 'data-act': 'collect', onclick: () => this.collect(b) },
        'Collect ', h('span', { 'data-ready': b.id }, String(n)), ` ${r.resName(bt.resource)}`));
    }
    wrap.append(acts);
    if (bt.kind === 'trainer') wrap.append(this.trainerSection(b));
    wrap.append(h('div', { class: 'sub' }, 'Drag the selected building to move it.'));
    return wrap;
  }

  collect(b) {
    this.act('collect', { building_id: b.id }, (res) => {
      if (res.ok) this.toast(`Collected ${costText(this.rules, res.result && res.result.collected)}`);
    });
  }

  trainerSection(b) {
    const r = this.rules;
    const now = this.net.now();
    const sec = h('div', {});
    const ho = r.housing(this.base);
    if (b.q && b.q.length) {
      const done = r.queueDone(b);
      sec.append(h('h3', {}, 'Queue · done in ', h('span', { 'data-until': done }, dur(done - now))));
      for (const q of b.q) {
        sec.append(h('div', { class: 'row', 'data-queued': q.u },
          h('div', { class: 'grow' }, `${q.n} × ${(r.units.get(q.u) || { name: q.u }).name}`),
          h('button', { class: 'danger', 'data-cancel-unit': q.u, onclick: () => this.act('cancel_training', { building_id: b.id, unit: q.u, count: 1 }) }, '−1'),
          h('button', { class: 'danger', onclick: () => this.act('cancel_training', { building_id: b.id, unit: q.u }) }, 'All')));
      }
      sec.append(h('div', { class: 'actions' }, h('button', { class: 'gems', 'data-act': 'speed_up_training', 'data-gems-for': done,
        onclick: () => this.act('speed_up', { building_id: b.id, kind: 'training' }) }, `Speed up (${r.speedUpCost(done - now)} gems)`)));
    }
    sec.append(h('h3', {}, `Train (army ${ho.used}/${ho.cap})`));
    // Units this trainer can make, and the next one it unlocks.
    const units = r.unitsAt(b);
    const shown = units.filter((u, i) => !u.locked || (i > 0 && !units[i - 1].locked));
    for (const u of shown) {
      const why = b.lv === 0 ? 'Finish building first' : u.locked ? `Needs ${r.type(b.t).name} ${u.level}` : r.lacking(this.base, u.cost);
      sec.append(h('div', { class: `row${why ? ' off' : ''}` },
        h('div', { class: 'grow' }, h('div', { class: 'name' }, u.name), h('div', { class: 'sub' }, `${costText(r, u.cost)} · ${dur(u.time_s * 1000)} · space ${u.housing}`),
          why ? h('div', { class: 'why' }, why) : null),
        h('button', { 'data-train': u.id, disabled: !!why, onclick: () => this.act('train_units', { building_id: b.id, unit: u.id, count: 1 }) }, '+1'),
        h('button', { 'data-train5': u.id, disabled: !!why, onclick: () => this.act('train_units', { building_id: b.id, unit: u.id, count: 5 }) }, '+5')));
    }
    return sec;
  }

  buildPanel() {
    const r = this.rules;
    const th = r.townHall(this.base);
    const list = h('div', {});
    for (const bt of r.gd.buildings) {
      if (bt.kind === 'town_hall') continue;
      const allowed = r.allowed(bt.id, th);
      if (allowed === 0) continue; // only what this town hall allows
      const why = r.canBuild(this.base, bt.id);
      const l1 = bt.levels[0];
      list.append(h('div', { class: `row${why ? ' off' : ''}` },
        h('div', { class: 'grow' },
          h('div', { class: 'name' }, `${bt.name} `, h('span', { class: 'sub' }, `${r.count(this.base, bt.id)}/${allowed}`)),
          h('div', { class: 'sub' }, `${costText(r, l1.cost)} · ${l1.time_s ? dur(l1.time_s * 1000) : 'instant'} · ${bt.w}×${bt.h}`),
          why ? h('div', { class: 'why' }, why) : null),
        h('button', { 'data-build': bt.id, disabled: !!why, title: why || '', onclick: () => this.startPlacing(bt) }, 'Place')));
    }
    return list;
  }

  startPlacing(bt) {
    this.close();
    const v = this.view;
    // Start at the first free spot near the middle of the screen.
    const [cx, cy] = v.toWorld(v.cssW / 2, v.cssH / 2);
    let spot = { x: Math.round(cx - bt.w / 2), y: Math.round(cy - bt.h / 2) };
    search: for (let rad = 0; rad < 44; rad++) {
      for (let dy = -rad; dy <= rad; dy++) {
        for (let dx = -rad; dx <= rad; dx++) {
          const x = spot.x + dx;
          const y = spot.y + dy;
          if (v.fits(x, y, bt.w, bt.h)) { spot = { x, y }; break search; }
        }
      }
    }
    v.ghost = { type: bt.id, x: spot.x, y: spot.y, w: bt.w, h: bt.h };
    $('#placebar').hidden = false;
    this.placeText();
  }

  placeText() {
    const g = this.view.ghost;
    if (!g) return;
    const ok = this.view.fits(g.x, g.y, g.w, g.h);
    $('#place-text').textContent = `${this.rules.type(g.type).name} at ${g.x},${g.y}${ok ? '' : ' (blocked)'} · tap to move`;
    $('#place-ok').disabled = !ok;
  }

  place() {
    const g = this.view.ghost;
    if (!g) return;
    this.act('build', { type: g.type, x: g.x, y: g.y }, (res) => {
      if (res.ok && res.result && res.result.building_id) this.select(res.result.building_id);
    });
    this.stopPlacing();
  }

  select(id) {
    this.view.selected = id;
    this.open('building', id);
    this.view.selected = id;
  }

  stopPlacing() {
    this.view.ghost = null;
    $('#placebar').hidden = true;
  }

  // moveBuilding asks the server even when the spot looks blocked: its
  // answer decides, and a refusal puts the building back.
  moveBuilding(b, x, y) {
    const move = { x, y, acked: false };
    this.view.pending.set(b.id, move);
    this.act('move_building', { building_id: b.id, x, y }, (res) => {
      if (this.view.pending.get(b.id) !== move) return; // moved again since
      if (res.ok) move.acked = true; // cleared by the next player
      else this.view.pending.delete(b.id); // refused: back where it was
    });
  }

  storePanel() {
    const r = this.rules;
    const th = r.townHall(this.base);
    const list = h('div', {});
    for (const it of r.store) {
      let why = '';
      if (it.th && th < it.th) why = `Town hall ${it.th} needed`;
      else if ((this.base.res.gems || 0) < it.price) why = `Need ${it.price} gems`;
      let what = '';
      if (it.kind === 'resources') what = `Gives ${costText(r, it.gives)}`;
      else if (it.kind === 'boost') what = `${r.resName(it.resource)} ×${it.factor} for ${dur(it.seconds * 1000)}`;
      else if (it.kind === 'speed_up') what = `${dur(it.seconds * 1000)} off every ${it.target === 'training' ? 'training queue' : 'upgrade'}`;
      list.append(h('div', { class: `row${why ? ' off' : ''}` },
        h('div', { class: 'grow' }, h('div', { class: 'name' }, it.name), h('div', { class: 'sub' }, what), why ? h('div', { class: 'why' }, why) : null),
        h('button', { class: 'gems', 'data-item': it.id, disabled: !!why, onclick: () => this.act('buy_item', { item: it.id }, (res) => {
          if (res.ok) this.toast(`Bought ${it.name}`);
        }) }, `${it.price} gems`)));
    }
    return list;
  }

  // --- raids ---

  findOpponent(retry) {
    this.raid = { phase: 'searching', retry };
    this.renderPanel();
    this.act('find_opponent', { retry }, (res) => {
      if (res.ok) this.raid = { phase: 'found', retry, opponent: res.result.opponent, tolerance: res.result.tolerance };
      else this.raid = { phase: 'none', retry, error: res.error };
      this.renderPanel();
    });
  }

  attack() {
    const opp = this.raid.opponent;
    this.raid = { ...this.raid, phase: 'attacking' };
    this.renderPanel();
    this.act('attack', { opponent_id: opp.id }, (res) => {
      if (res.ok) this.raid = { phase: 'result', retry: 0, result: res.result };
      else this.raid = { ...this.raid, phase: 'found', error: res.error };
      this.renderPanel();
    });
  }

  raidPanel() {
    const r = this.rules;
    const f = this.player.found;
    if (this.raid.phase === 'idle' && f && f.until > this.net.now()) {
      // An opponent offered before a reload is still on offer.
      this.raid = { phase: 'found', retry: 0, opponent: { id: f.id }, tolerance: null };
    }
    const s = this.raid;
    const wrap = h('div', { 'data-raid': s.phase });
    const army = Object.entries(this.base.army || {}).filter(([, n]) => n > 0);
    wrap.append(h('div', { class: 'sub' }, `Your army: ${army.length ? army.map(([u, n]) => `${n} ${(r.units.get(u) || { name: u }).name}`).join(', ') : 'none (train units at a barracks)'}`));
    const acts = h('div', { class: 'actions' });
    switch (s.phase) {
      case 'searching':
        wrap.append(h('p', {}, 'Looking for an opponent…'));
        break;
      case 'none':
        wrap.append(h('p', { class: 'why' }, plain(s.error)));
        if (s.error && s.error.code === 'no_opponent' && s.retry < 5) {
          acts.append(h('button', { class: 'primary', 'data-act': 'find_wider', onclick: () => this.findOpponent(s.retry + 1) }, 'Search wider'));
        } else {
          acts.append(h('button', { class: 'primary', 'data-act': 'find_opponent', onclick: () => this.findOpponent(0) }, 'Search again'));
        }
        break;
      case 'found':
      case 'attacking': {
        const o = s.opponent;
        wrap.append(h('h3', {}, `Opponent ${o.id}`));
        if (o.town_hall !== undefined) {
          wrap.append(h('dl', { class: 'kv', id: 'opponent' },
            h('dt', {}, 'Town hall'), h('dd', {}, o.town_hall),
            h('dt', {}, 'Trophies'), h('dd', {}, o.trophies),
            h('dt', {}, 'Base value'), h('dd', {}, fmt(o.base_value || 0)),
            h('dt', {}, 'Search'), h('dd', {}, `±${s.tolerance} trophies`)));
        } else {
          wrap.append(h('p', { class: 'sub', id: 'opponent' }, 'Still on offer from your last search.'));
        }
        if (s.error) wrap.append(h('p', { class: 'why' }, plain(s.error)));
        if (s.phase === 'attacking') wrap.append(h('p', {}, 'Battle in progress…'));
        acts.append(h('button', { class: 'danger', 'data-act': 'attack', disabled: s.phase === 'attacking' || !army.length, onclick: () => this.attack() }, 'Attack!'),
          h('button', { 'data-act': 'next_opponent', disabled: s.phase === 'attacking', onclick: () => this.findOpponent(0) }, 'Next'));
        break;
      }
      case 'result': {
        const x = s.result;
        wrap.append(h('div', { id: 'raid-result' },
          h('div', { class: 'stars' }, '★'.repeat(x.stars) + '☆'.repeat(3 - x.stars)),
          h('dl', { class: 'kv' },
            h('dt', {}, 'Defender'), h('dd', {}, x.defender),
            h('dt', {}, 'Destruction'), h('dd', { 'data-destruction': x.destruction_pct }, `${x.destruction_pct}%`),
            h('dt', {}, 'Loot'), h('dd', {}, costText(r, x.loot)),
            h('dt', {}, 'Trophies'), h('dd', {}, `${x.attacker_trophies > 0 ? '+' : ''}${x.attacker_trophies}`),
            h('dt', {}, 'Units'), h('dd', {}, `${sum(x.units_sent)} sent, ${sum(x.units_lost)} lost`))));
        acts.append(h('button', { class: 'primary', 'data-act': 'find_opponent', onclick: () => this.findOpponent(0) }, 'Find another'));
        break;
      }
      default:
        acts.append(h('button', { class: 'primary', 'data-act': 'find_opponent', onclick: () => this.findOpponent(0) }, 'Find opponent'));
    }
    wrap.append(acts);
    return wrap;
  }

  loadRanks() {
    this.ranks = { loading: true };
    this.act('leaderboard', { n: 20 }, (res) => {
      this.ranks = res.ok ? res.result : { error: res.error };
      if (this.panel && this.panel.kind === 'ranks') this.renderPanel();
    });
  }

  ranksPanel() {
    const x = this.ranks || {};
    if (x.loading) return h('p', {}, 'Loading…');
    if (x.error) return h('p', { class: 'why' }, plain(x.error));
    const me = this.player.id;
    return h('div', { id: 'ranks' },
      h('p', {}, `Your rank: `, h('b', { id: 'my-rank' }, x.rank ? `#${x.rank}` : '–'), ` · ${x.trophies || 0} trophies`),
      h('table', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, 'Player'), h('th', {}, 'TH'), h('th', {}, 'Trophies')),
        (x.top || []).map((e, i) => h('tr', { class: e.id === me ? 'me' : '' }, h('td', {}, i + 1), h('td', {}, short(e.id)), h('td', {}, e.town_hall), h('td', {}, e.trophies)))),
      h('div', { class: 'actions' }, h('button', { onclick: () => { this.loadRanks(); this.renderPanel(); } }, 'Refresh')));
  }

  logPanel() {
    const r = this.rules;
    const raids = [...(this.player.raids || [])].reverse();
    if (!raids.length) return h('p', {}, 'No raids yet.');
    return h('div', { id: 'raidlog' }, raids.map((x) => h('div', { class: 'row' },
      h('div', { class: 'grow' },
        h('div', { class: 'name' }, x.attack ? `You raided ${short(x.opponent)}` : `${short(x.opponent)} raided you`),
        h('div', { class: 'sub' }, `${'★'.repeat(x.stars)}${'☆'.repeat(3 - x.stars)} · ${x.attack ? 'gained' : 'lost'} ${costText(r, x.loot)} · trophies ${x.trophies > 0 ? '+' : ''}${x.trophies} · ${new Date(x.at).toLocaleString()}`)))));
  }

  async loadAccount() {
    try {
      this.accountInfo = await this.net.account();
    } catch (e) {
      this.accountInfo = { error: e };
    }
    const el = document.querySelector('#credentials');
    if (el) el.textContent = credentials(this.accountInfo);
  }

  accountPanel() {
    const a = this.accountInfo;
    const wrap = h('div', {});
    wrap.append(h('dl', { class: 'kv' }, h('dt', {}, 'Player'), h('dd', { id: 'player-id' }, this.player.id),
      h('dt', {}, 'Sign-ins'), h('dd', { id: 'credentials' }, credentials(a))));
    const msg = h('div', { class: 'sub', id: 'link-msg' });
    const form = h('form', { id: 'link-form', onsubmit: async (e) => {
      e.preventDefault();
      const fd = new FormData(form);
      msg.textContent = 'Linking…';
      try {
        await this.net.link({ email: fd.get('email'), password: fd.get('password') });
        msg.textContent = 'Email linked: you can sign in with it on another device.';
        this.loadAccount();
      } catch (err) {
        msg.textContent = err.status === 404 ? 'Linking an email is not available on this server yet.'
          : err.code === 'already_exists' ? 'That email belongs to another account.'
            : err.code === 'bad_request' ? 'Check the email, and use a password of 8 to 128 characters.' : plain(err);
      }
    } },
    h('label', {}, 'Link an email to keep this base on other devices'),
    h('input', { name: 'email', type: 'email', placeholder: 'email', required: true, autocomplete: 'email' }),
    h('input', { name: 'password', type: 'password', placeholder: 'password (8+ characters)', minlength: 8, required: true, autocomplete: 'new-password' }),
    h('button', { class: 'primary', type: 'submit' }, 'Link email'), msg);
    wrap.append(form);
    return wrap;
  }

  // --- debug overlay ---

  toggleDebug() {
    $('#debug').hidden = !$('#debug').hidden;
    this.renderDebug();
  }

  renderDebug() {
    if ($('#debug').hidden) return;
    const n = this.net;
    const rows = [...n.log].reverse().slice(0, 15).map((e) => h('tr', {}, h('td', {}, e.what), h('td', {}, e.seqs.join(',')), h('td', {}, `${e.ms} ms`), h('td', {}, e.ok ? '' : '✗')));
    $('#debug-body').replaceChildren(
      h('div', {}, `status ${n.status} · player ${short(n.playerId)}`),
      h('div', {}, `last seq ${n.lastSeq} · server ${this.player ? this.player.last_seq : '?'}`),
      h('div', { id: 'inflight' }, `in flight: ${n.inFlight().join(', ') || 'none'}`),
      h('div', {}, `async pending: ${[...this.waiting.keys()].join(', ') || 'none'}`),
      h('div', { id: 'duplicates' }, `duplicates: ${n.duplicates}${n.loseNextReply ? ' · next reply will be dropped' : ''}`),
      h('div', {}, `clock skew ${n.clockSkew} ms · data ${this.rules ? this.rules.version : '?'}`),
      h('div', { id: 'events' }, `events: ${n.events.slice(-5).map((e) => e.kind).join(', ') || 'none'}`),
      h('table', { id: 'latency' }, rows));
  }
}

// refusal is a failed action in plain words, with its code.
function refusal(r) {
  const what = (r.name || 'action').replace(/_/g, ' ');
  return `${what}: ${plain(r.error)} (${(r.error && r.error.code) || 'error'})`;
}

function credentials(a) { return a && a.credentials ? a.credentials.join(', ') : 'this device'; }

function sum(m) { return Object.values(m || {}).reduce((a, b) => a + b, 0); }
function short(id) { return id && id.length > 14 ? `${id.slice(0, 6)}…${id.slice(-4)}` : id; }
