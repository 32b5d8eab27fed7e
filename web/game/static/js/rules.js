// rules.js: reading the game data bundle for display. The server decides
// every outcome; these answers only grey out buttons and draw progress.

export const ERRORS = {
  unknown_action: 'The server does not know that action.',
  bad_args: 'That request was malformed.',
  bad_request: 'That request was malformed.',
  not_found: 'That no longer exists.',
  wrong_building: 'This building cannot do that.',
  out_of_bounds: 'That spot is off the map.',
  occupied: 'Something is already in that spot.',
  limit_reached: 'Your town hall allows no more of these.',
  requirement_not_met: 'A requirement is not met yet (town hall or building level).',
  no_free_builder: 'All builders are busy.',
  not_enough_resources: 'Not enough resources.',
  busy: 'That building is already being built or upgraded.',
  not_upgrading: 'Nothing is being built there to cancel.',
  max_level: 'Already at the highest level.',
  nothing_to_collect: 'Nothing to collect yet.',
  storage_full: 'Your storage is full.',
  housing_full: 'Your army camps are full.',
  queue_full: 'The training queue is full.',
  nothing_to_speed_up: 'Nothing is running there to speed up.',
  not_in_queue: 'No such unit in the queue.',
  no_opponent: 'No opponent found near your trophies.',
  no_army: 'Train some units before attacking.',
  under_attack: 'Someone else is raiding that base right now.',
  unavailable: 'The server is busy; try again in a moment.',
  rate_limited: 'Slow down a little.',
  out_of_order: 'That action arrived out of order and was dropped.',
  stale_seq: 'That action is too old to replay.',
  unauthorized: 'Your session ended; signing in again.',
  network: 'The server cannot be reached.',
  banned: 'This account is banned.',
  player_busy: 'Your base is busy on another server; trying again.',
  too_large: 'That request was too large.',
};

export function plain(err) {
  if (!err) return 'Something went wrong.';
  return ERRORS[err.code] || err.message || err.code;
}

export class Rules {
  constructor(gd) {
    this.gd = gd;
    this.version = gd.version;
    this.buildings = new Map(gd.buildings.map((b) => [b.id, b]));
    this.units = new Map(gd.units.map((u) => [u.id, u]));
    this.store = gd.store;
    this.resources = gd.resources;
  }

  type(id) { return this.buildings.get(id); }

  level(type, lv) {
    const bt = this.type(type);
    return bt && bt.levels.find((l) => l.level === lv);
  }

  townHall(base) {
    const th = base.bld.find((b) => b.t === 'town_hall');
    return th ? th.lv : 0;
  }

  // allowed is how many of type the town hall level allows.
  allowed(type, th) {
    const bt = this.type(type);
    if (!bt || th < 1) return 0;
    return bt.max_count[Math.min(th, bt.max_count.length) - 1] || 0;
  }

  count(base, type) { return base.bld.filter((b) => b.t === type).length; }

  builders(base) {
    let total = 0;
    for (const b of base.bld) {
      const l = this.level(b.t, b.lv);
      if (l && l.builders) total += l.builders;
    }
    const busy = base.bld.filter((b) => b.done).length;
    return { total, busy, free: total - busy };
  }

  capacity(base) {
    const cap = {};
    for (const b of base.bld) {
      const l = this.level(b.t, b.lv);
      if (l && l.storage) for (const [r, n] of Object.entries(l.storage)) cap[r] = (cap[r] || 0) + n;
    }
    return cap;
  }

  // lacking is the first resource short for cost, or ''.
  lacking(base, cost) {
    for (const [r, n] of Object.entries(cost || {})) {
      if ((base.res[r] || 0) < n) return `Need ${fmt(n)} ${this.resName(r)}`;
    }
    return '';
  }

  resName(r) {
    const x = this.resources.find((y) => y.id === r);
    return x ? x.name.toLowerCase() : r;
  }

  // canBuild says why type cannot be placed now ('' when it can).
  canBuild(base, type) {
    const bt = this.type(type);
    const th = this.townHall(base);
    const allowed = this.allowed(type, th);
    const l1 = bt.levels[0];
    if (allowed === 0) {
      const need = bt.max_count.findIndex((n) => n > 0) + 1;
      return `Town hall ${need} needed`;
    }
    if (this.count(base, type) >= allowed) return `Limit reached (${allowed})`;
    if (l1.th && th < l1.th) return `Town hall ${l1.th} needed`;
    for (const req of l1.requires || []) {
      if (!base.bld.some((b) => b.t === req.building && b.lv >= req.level)) return `Needs ${this.type(req.building).name} ${req.level}`;
    }
    if (l1.time_s > 0 && this.builders(base).free < 1) return 'No free builder';
    return this.lacking(base, l1.cost);
  }

  canUpgrade(base, b) {
    const next = this.level(b.t, b.lv + 1);
    if (!next) return 'Max level';
    if (b.done) return 'Busy';
    if (next.th && this.townHall(base) < next.th && b.t !== 'town_hall') return `Town hall ${next.th} needed`;
    for (const req of next.requires || []) {
      if (!base.bld.some((x) => x.t === req.building && x.lv >= req.level)) return `Needs ${this.type(req.building).name} ${req.level}`;
    }
    if (next.time_s > 0 && this.builders(base).free < 1) return 'No free builder';
    return this.lacking(base, next.cost);
  }

  // speedUpCost is the server's price (gamedata.Bundle.SpeedUpCost): the
  // remaining time in whole seconds, rounded up; linear between the points
  // of rules.speed_up, proportional past the last; at least 1 gem.
  speedUpCost(remainingMs) {
    if (remainingMs <= 0) return 0;
    const pts = this.gd.rules.speed_up;
    const sec = Math.ceil(remainingMs / 1000);
    const ceilDiv = (a, b) => Math.floor((a + b - 1) / b);
    const last = pts[pts.length - 1];
    let c = 0;
    if (sec >= last.s) {
      c = ceilDiv(sec * last.cost, last.s);
    } else {
      for (let i = 1; i < pts.length; i++) {
        if (sec <= pts[i].s) {
          const p = pts[i - 1];
          const q = pts[i];
          c = p.cost + ceilDiv((sec - p.s) * (q.cost - p.cost), q.s - p.s);
          break;
        }
      }
    }
    return Math.max(c, 1);
  }

  boost(base, res, now) {
    for (const x of base.boosts || []) if (x.res === res && x.until > now) return x.x;
    return 1;
  }

  // ready is what harvester b holds now (as the server computes it).
  ready(base, b, now) {
    const bt = this.type(b.t);
    const l = this.level(b.t, b.lv);
    if (!bt || bt.kind !== 'harvester' || !l) return 0;
    let s = b.stored || 0;
    if (b.since && now > b.since && s < l.capacity) {
      s += Math.floor((l.rate * this.boost(base, bt.resource, now) * (now - b.since)) / 3600000);
    }
    return Math.min(s, l.capacity);
  }

  unitsAt(b) {
    const l = this.level(b.t, b.lv);
    return [...this.units.values()].filter((u) => u.trained_at === b.t).map((u) => ({ ...u, locked: !l || u.level > b.lv }));
  }

  housing(base) {
    let cap = 0;
    for (const b of base.bld) {
      const l = this.level(b.t, b.lv);
      if (l && l.housing) cap += l.housing;
    }
    let used = 0;
    for (const [u, n] of Object.entries(base.army || {})) used += n * ((this.units.get(u) || {}).housing || 1);
    for (const b of base.bld) for (const q of b.q || []) used += q.n * ((this.units.get(q.u) || {}).housing || 1);
    return { cap, used };
  }

  // queueDone is when trainer b's whole queue finishes.
  queueDone(b) {
    if (!b.q || !b.q.length) return 0;
    let t = b.qat || 0;
    for (const q of b.q) t += q.n * (this.units.get(q.u) || { time_s: 0 }).time_s * 1000;
    return t;
  }
}

export function fmt(n) {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(n >= 1e5 ? 0 : 1)}k`;
  return String(n);
}

export function dur(ms) {
  let s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `${s}s`;
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  return `${m}m ${s}s`;
}

export function costText(rules, cost) {
  const parts = Object.entries(cost || {}).map(([r, n]) => `${fmt(n)} ${rules.resName(r)}`);
  return parts.length ? parts.join(', ') : 'free';
}
