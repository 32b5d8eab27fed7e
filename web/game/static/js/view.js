// view.js: the base on a canvas. A camera (pan, zoom), drawing every
// building from the game data and the player's base, and pointer input:
// tap to select, drag to pan or to move the selected building, wheel and
// pinch to zoom. It only reports intents; app.js turns them into actions.

const KIND_COLOURS = {
  town_hall: ['#c9873a', '#8a5420'],
  harvester: ['#d7b23a', '#8d6f16'],
  storage: ['#b98d52', '#6f5128'],
  defense: ['#8e939c', '#50545c'],
  trainer: ['#b4463c', '#6e231d'],
  army_camp: ['#a5744a', '#5f3f22'],
  builder_hut: ['#7aa05a', '#46662e'],
  wall: ['#9a9a92', '#5d5d56'],
};

const TYPE_COLOURS = {
  elixir_collector: ['#b560d4', '#6b2a85'],
  elixir_storage: ['#a25cc2', '#5d2c75'],
  gold_mine: ['#e2b93b', '#8c6d12'],
  gold_storage: ['#d6a935', '#7c5e10'],
};

export class View {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.rules = null;
    this.base = null;
    this.now = () => Date.now();
    this.grid = { w: 44, h: 44 };
    this.cam = { x: 22, y: 22, scale: 16 };
    this.selected = null; // building id
    this.ghost = null; // {type, x, y, w, h} while placing
    this.drag = null; // {id, x, y} while moving a building
    this.pending = new Map(); // building id -> {x, y}: moved, waiting for the server
    this.pointers = new Map();
    this.gesture = null;
    this.onTap = () => {};
    this.onMoveEnd = () => {};
    this.onCollect = () => {};
    this.onGhostMove = () => {};
    this.dirty = true;
    this.fitted = false;
    this.bind();
    this.resize();
    new ResizeObserver(() => this.resize()).observe(canvas);
    const frame = () => { this.draw(); requestAnimationFrame(frame); };
    requestAnimationFrame(frame);
  }

  setRules(rules) {
    this.rules = rules;
    this.grid = rules.gd.grid;
    if (!this.fitted) this.fit();
  }

  setBase(base) {
    const first = !this.base;
    this.base = base;
    if (first) this.fit();
  }

  resize() {
    const r = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.cssW = r.width;
    this.cssH = r.height;
    this.canvas.width = Math.max(1, Math.round(r.width * dpr));
    this.canvas.height = Math.max(1, Math.round(r.height * dpr));
    this.dpr = dpr;
    if (!this.fitted && r.width > 0) this.fit();
  }

  // fit shows the whole grid; on a narrow (phone) screen, the width of the
  // base's buildings, which is most of what matters there.
  fit() {
    if (!this.cssW) return;
    this.fitted = true;
    this.cam.x = this.grid.w / 2;
    this.cam.y = this.grid.h / 2;
    this.cam.scale = Math.min(this.cssW / (this.grid.w + 2), this.cssH / (this.grid.h + 2));
    if (this.cssW >= 600 || !this.base || !this.rules) return;
    let x0 = Infinity;
    let x1 = -Infinity;
    let y0 = Infinity;
    let y1 = -Infinity;
    for (const b of this.base.bld) {
      const bt = this.rules.type(b.t);
      if (!bt) continue;
      x0 = Math.min(x0, b.x); x1 = Math.max(x1, b.x + bt.w);
      y0 = Math.min(y0, b.y); y1 = Math.max(y1, b.y + bt.h);
    }
    if (x0 === Infinity) return;
    const pad = 3;
    this.cam.x = (x0 + x1) / 2;
    this.cam.y = (y0 + y1) / 2;
    this.cam.scale = Math.max(this.cam.scale, Math.min(this.cssW / (x1 - x0 + 2 * pad), (this.cssH - 150) / (y1 - y0 + 2 * pad)));
  }

  // Coordinates: world is in tiles, screen in CSS pixels of the canvas.
  toScreen(wx, wy) {
    return [(wx - this.cam.x) * this.cam.scale + this.cssW / 2, (wy - this.cam.y) * this.cam.scale + this.cssH / 2];
  }

  toWorld(sx, sy) {
    return [(sx - this.cssW / 2) / this.cam.scale + this.cam.x, (sy - this.cssH / 2) / this.cam.scale + this.cam.y];
  }

  // tileToClient is where tile (x, y)'s centre is in the page (for tests
  // and for placing popups).
  tileToClient(x, y) {
    const r = this.canvas.getBoundingClientRect();
    const [sx, sy] = this.toScreen(x + 0.5, y + 0.5);
    return { x: r.left + sx, y: r.top + sy };
  }

  zoomAt(sx, sy, factor) {
    const [wx, wy] = this.toWorld(sx, sy);
    const min = Math.min(this.cssW, this.cssH) / (Math.max(this.grid.w, this.grid.h) * 1.6);
    this.cam.scale = Math.max(min, Math.min(90, this.cam.scale * factor));
    const [wx2, wy2] = this.toWorld(sx, sy);
    this.cam.x += wx - wx2;
    this.cam.y += wy - wy2;
  }

  position(b) {
    if (this.drag && this.drag.id === b.id) return this.drag;
    return this.pending.get(b.id) || b;
  }

  buildingAt(wx, wy) {
    if (!this.base || !this.rules) return null;
    for (let i = this.base.bld.length - 1; i >= 0; i--) {
      const b = this.base.bld[i];
      const bt = this.rules.type(b.t);
      if (!bt) continue;
      const p = this.position(b);
      if (wx >= p.x && wx < p.x + bt.w && wy >= p.y && wy < p.y + bt.h) return b;
    }
    return null;
  }

  // fits says whether a w×h footprint at x, y is free (ignoring id).
  fits(x, y, w, h, id) {
    if (x < 0 || y < 0 || x + w > this.grid.w || y + h > this.grid.h) return false;
    for (const b of this.base.bld) {
      if (b.id === id) continue;
      const bt = this.rules.type(b.t);
      if (!bt) continue;
      const p = this.position(b);
      if (x < p.x + bt.w && p.x < x + w && y < p.y + bt.h && p.y < y + h) return false;
    }
    return true;
  }

  local(e) {
    const r = this.canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }

  bind() {
    const c = this.canvas;
    c.addEventListener('pointerdown', (e) => {
      c.setPointerCapture(e.pointerId);
      const [sx, sy] = this.local(e);
      this.pointers.set(e.pointerId, { sx, sy });
      if (this.pointers.size === 2) {
        this.drag = null;
        this.gesture = { kind: 'pinch', ...this.pinchState() };
        return;
      }
      if (this.pointers.size > 2) return;
      const [wx, wy] = this.toWorld(sx, sy);
      const g = { kind: 'pan', sx, sy, x0: sx, y0: sy, moved: false };
      if (this.ghost && wx >= this.ghost.x && wx < this.ghost.x + this.ghost.w && wy >= this.ghost.y && wy < this.ghost.y + this.ghost.h) {
        g.kind = 'ghost';
        g.dx = wx - this.ghost.x;
        g.dy = wy - this.ghost.y;
      } else if (!this.ghost && this.selected) {
        const b = this.buildingAt(wx, wy);
        if (b && b.id === this.selected) {
          const p = this.position(b);
          g.kind = 'move';
          g.id = b.id;
          g.dx = wx - p.x;
          g.dy = wy - p.y;
        }
      }
      this.gesture = g;
    });
    c.addEventListener('pointermove', (e) => {
      const p = this.pointers.get(e.pointerId);
      if (!p) return;
      const [sx, sy] = this.local(e);
      p.sx = sx;
      p.sy = sy;
      const g = this.gesture;
      if (!g) return;
      if (g.kind === 'pinch') {
        if (this.pointers.size < 2) return;
        const now = this.pinchState();
        this.zoomAt(now.cx, now.cy, now.d / g.d);
        this.cam.x -= (now.cx - g.cx) / this.cam.scale;
        this.cam.y -= (now.cy - g.cy) / this.cam.scale;
        Object.assign(g, now);
        return;
      }
      if (!g.moved && Math.hypot(sx - g.x0, sy - g.y0) < 6) return;
      g.moved = true;
      const [wx, wy] = this.toWorld(sx, sy);
      if (g.kind === 'pan') {
        this.cam.x -= (sx - g.sx) / this.cam.scale;
        this.cam.y -= (sy - g.sy) / this.cam.scale;
      } else if (g.kind === 'ghost') {
        this.ghost.x = Math.round(wx - g.dx);
        this.ghost.y = Math.round(wy - g.dy);
        this.onGhostMove(this.ghost);
      } else if (g.kind === 'move') {
        this.drag = { id: g.id, x: Math.round(wx - g.dx), y: Math.round(wy - g.dy) };
      }
      g.sx = sx;
      g.sy = sy;
    });
    const up = (e) => {
      if (!this.pointers.has(e.pointerId)) return;
      this.pointers.delete(e.pointerId);
      const g = this.gesture;
      if (this.pointers.size > 0) {
        if (g && g.kind === 'pinch') {
          const [rest] = this.pointers.values();
          this.gesture = { kind: 'pan', sx: rest.sx, sy: rest.sy, x0: rest.sx, y0: rest.sy, moved: true };
        }
        return;
      }
      this.gesture = null;
      if (!g || e.type === 'pointercancel') { this.drag = null; return; }
      if (g.kind === 'move' && g.moved && this.drag) {
        const d = this.drag;
        this.drag = null;
        const b = this.base.bld.find((x) => x.id === d.id);
        if (b && (d.x !== b.x || d.y !== b.y)) this.onMoveEnd(b, d.x, d.y);
        return;
      }
      if (!g.moved) {
        const bubble = this.ghost ? null : this.bubbleAt(g.x0, g.y0);
        if (bubble) { this.onCollect(bubble); return; }
        const [wx, wy] = this.toWorld(g.x0, g.y0);
        this.onTap(Math.floor(wx), Math.floor(wy), this.buildingAt(wx, wy));
      }
    };
    c.addEventListener('pointerup', up);
    c.addEventListener('pointercancel', up);
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      const [sx, sy] = this.local(e);
      this.zoomAt(sx, sy, Math.exp(-e.deltaY * 0.0015));
    }, { passive: false });
  }

  pinchState() {
    const [a, b] = [...this.pointers.values()];
    return { cx: (a.sx + b.sx) / 2, cy: (a.sy + b.sy) / 2, d: Math.max(10, Math.hypot(a.sx - b.sx, a.sy - b.sy)) };
  }

  draw() {
    const ctx = this.ctx;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = '#2f4a2a';
    ctx.fillRect(0, 0, this.cssW, this.cssH);
    if (!this.rules) return;
    const s = this.cam.scale;
    const [gx, gy] = this.toScreen(0, 0);
    // Grass, checkered, with a darker border.
    ctx.fillStyle = '#253b21';
    ctx.fillRect(gx - s * 0.6, gy - s * 0.6, this.grid.w * s + s * 1.2, this.grid.h * s + s * 1.2);
    for (let y = 0; y < this.grid.h; y++) {
      for (let x = 0; x < this.grid.w; x++) {
        ctx.fillStyle = (x + y) % 2 ? '#5f9a45' : '#66a34b';
        ctx.fillRect(gx + x * s, gy + y * s, s + 0.5, s + 0.5);
      }
    }
    this.drawTrees();
    if (!this.base) return;
    const now = this.now();
    const sorted = [...this.base.bld].sort((a, b) => this.position(a).y - this.position(b).y);
    for (const b of sorted) this.drawBuilding(b, now);
    if (this.drag) {
      const b = this.base.bld.find((x) => x.id === this.drag.id);
      const bt = b && this.rules.type(b.t);
      if (bt) this.drawFootprint(this.drag.x, this.drag.y, bt.w, bt.h, this.fits(this.drag.x, this.drag.y, bt.w, bt.h, b.id));
    }
    if (this.ghost) {
      const g = this.ghost;
      const ok = this.fits(g.x, g.y, g.w, g.h);
      this.drawShape(g.type, g.x, g.y, g.w, g.h, 1, 0.6);
      this.drawFootprint(g.x, g.y, g.w, g.h, ok);
    }
  }

  // drawTrees scatters a forest around the grid (fixed positions: a
  // small deterministic generator, so trees never jump between frames).
  drawTrees() {
    if (!this.trees) {
      this.trees = [];
      let seed = 7;
      const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
      const { w, h } = this.grid;
      for (let i = 0; i < 900; i++) {
        const x = -14 + rnd() * (w + 28);
        const y = -14 + rnd() * (h + 28);
        if (x > -1.2 && x < w + 0.2 && y > -1.2 && y < h + 0.2) continue;
        this.trees.push({ x, y, r: 0.45 + rnd() * 0.5, c: rnd() });
      }
      this.trees.sort((a, b) => a.y - b.y);
    }
    const ctx = this.ctx;
    const s = this.cam.scale;
    for (const t of this.trees) {
      const [sx, sy] = this.toScreen(t.x, t.y);
      if (sx < -s * 2 || sy < -s * 2 || sx > this.cssW + s * 2 || sy > this.cssH + s * 2) continue;
      const r = t.r * s;
      ctx.fillStyle = 'rgba(0,0,0,0.25)';
      ctx.beginPath();
      ctx.ellipse(sx + r * 0.3, sy + r * 0.5, r, r * 0.6, 0, 0, Math.PI * 2);
      ctx.fill();
      ctx.fillStyle = t.c < 0.5 ? '#2e6b2a' : t.c < 0.8 ? '#387a30' : '#24552a';
      ctx.beginPath();
      ctx.arc(sx, sy, r, 0, Math.PI * 2);
      ctx.fill();
      ctx.fillStyle = 'rgba(255,255,255,0.08)';
      ctx.beginPath();
      ctx.arc(sx - r * 0.3, sy - r * 0.3, r * 0.45, 0, Math.PI * 2);
      ctx.fill();
    }
  }

  drawFootprint(x, y, w, h, ok) {
    const ctx = this.ctx;
    const s = this.cam.scale;
    const [sx, sy] = this.toScreen(x, y);
    ctx.fillStyle = ok ? 'rgba(80,255,120,0.25)' : 'rgba(255,60,60,0.35)';
    ctx.strokeStyle = ok ? '#5f5' : '#f55';
    ctx.lineWidth = 2;
    ctx.fillRect(sx, sy, w * s, h * s);
    ctx.strokeRect(sx, sy, w * s, h * s);
  }

  drawBuilding(b, now) {
    const bt = this.rules.type(b.t);
    if (!bt) return;
    const p = this.position(b);
    const moving = this.drag && this.drag.id === b.id;
    this.drawShape(b.t, p.x, p.y, bt.w, bt.h, b.lv, moving ? 0.5 : 1, b.lv === 0);
    const ctx = this.ctx;
    const s = this.cam.scale;
    const [sx, sy] = this.toScreen(p.x, p.y);
    const w = bt.w * s;
    const h = bt.h * s;
    if (b.id === this.selected) {
      ctx.strokeStyle = '#fff';
      ctx.lineWidth = 2;
      ctx.setLineDash([5, 4]);
      ctx.strokeRect(sx - 2, sy - 2, w + 4, h + 4);
      ctx.setLineDash([]);
    }
    // Level badge.
    if (bt.w > 1 && s > 7) {
      const r = Math.max(6, s * 0.42);
      ctx.fillStyle = '#1d2a44';
      ctx.beginPath();
      ctx.arc(sx + r * 0.9, sy + r * 0.9, r, 0, Math.PI * 2);
      ctx.fill();
      ctx.fillStyle = '#fff';
      ctx.font = `bold ${Math.round(r * 1.2)}px system-ui, sans-serif`;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(String(b.lv), sx + r * 0.9, sy + r * 0.95);
    }
    // Construction or upgrade progress.
    if (b.done) {
      const next = this.rules.level(b.t, b.lv + 1);
      const total = ((next && next.time_s) || 1) * 1000;
      const frac = Math.max(0, Math.min(1, 1 - (b.done - now) / total));
      this.bar(sx + w * 0.08, sy - s * 0.5, w * 0.84, Math.max(5, s * 0.3), frac, '#4fc3f7');
    }
    // Training progress.
    if (b.q && b.q.length) {
      const done = this.rules.queueDone(b);
      const total = Math.max(1, done - (b.qat || now));
      this.bar(sx + w * 0.08, sy + h + s * 0.15, w * 0.84, Math.max(4, s * 0.22), 1 - (done - now) / total, '#ef5350');
    }
    // Harvest ready to collect.
    const u = this.bubble(b);
    if (u) {
      const { x: cx, y: cy, r } = u;
      ctx.fillStyle = '#fff';
      ctx.beginPath();
      ctx.arc(cx, cy, r, 0, Math.PI * 2);
      ctx.fill();
      ctx.fillStyle = bt.resource === 'elixir' ? '#9c3fc0' : '#c99a14';
      ctx.beginPath();
      ctx.arc(cx, cy, r * 0.65, 0, Math.PI * 2);
      ctx.fill();
      ctx.fillStyle = '#fff';
      ctx.font = `bold ${Math.round(Math.max(9, s * 0.45))}px system-ui, sans-serif`;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'bottom';
      ctx.shadowColor = 'rgba(0,0,0,0.9)';
      ctx.shadowBlur = 3;
      ctx.fillText(String(this.rules.ready(this.base, b, now)), cx, cy - r - 1);
      ctx.shadowBlur = 0;
    }
  }

  // bubble is where harvester b's "ready to collect" bubble is drawn
  // (canvas pixels), or null when it has none.
  bubble(b) {
    const bt = this.rules.type(b.t);
    if (!bt || bt.kind !== 'harvester' || b.done || this.rules.ready(this.base, b, this.now()) < 1) return null;
    const s = this.cam.scale;
    const p = this.position(b);
    const [sx, sy] = this.toScreen(p.x, p.y);
    return { x: sx + (bt.w * s) / 2, y: sy - s * 0.35, r: Math.max(8, s * 0.55) };
  }

  bubbleAt(sx, sy) {
    if (!this.base || !this.rules) return null;
    for (const b of this.base.bld) {
      const u = this.bubble(b);
      if (u && Math.hypot(sx - u.x, sy - u.y) <= u.r + 4) return b;
    }
    return null;
  }

  // bubbleToClient is where building id's bubble is on the page, or null.
  bubbleToClient(id) {
    const b = this.base && this.base.bld.find((x) => x.id === id);
    const u = b && this.bubble(b);
    if (!u) return null;
    const r = this.canvas.getBoundingClientRect();
    return { x: r.left + u.x, y: r.top + u.y };
  }

  bar(x, y, w, h, frac, colour) {
    const ctx = this.ctx;
    ctx.fillStyle = 'rgba(0,0,0,0.6)';
    ctx.fillRect(x - 1, y - 1, w + 2, h + 2);
    ctx.fillStyle = colour;
    ctx.fillRect(x, y, w * Math.max(0, Math.min(1, frac)), h);
  }

  // drawShape draws a building type's look: a coloured block with a roof
  // band and a small emblem per kind.
  drawShape(type, x, y, tw, th, lv, alpha, building) {
    const bt = this.rules.type(type);
    const ctx = this.ctx;
    const s = this.cam.scale;
    const [sx, sy] = this.toScreen(x, y);
    const w = tw * s;
    const h = th * s;
    const [fill, dark] = TYPE_COLOURS[type] || KIND_COLOURS[bt.kind] || ['#999', '#555'];
    ctx.globalAlpha = alpha;
    const inset = tw === 1 ? 0 : s * 0.12;
    // Shadow, body, roof band.
    ctx.fillStyle = 'rgba(0,0,0,0.25)';
    ctx.fillRect(sx + inset + s * 0.15, sy + inset + s * 0.2, w - inset * 2, h - inset * 2);
    ctx.fillStyle = dark;
    ctx.fillRect(sx + inset, sy + inset, w - inset * 2, h - inset * 2);
    ctx.fillStyle = fill;
    ctx.fillRect(sx + inset, sy + inset, w - inset * 2, (h - inset * 2) * 0.72);
    if (building) {
      // Scaffolding stripes while under construction.
      ctx.strokeStyle = 'rgba(60,40,10,0.8)';
      ctx.lineWidth = Math.max(1, s * 0.08);
      for (let i = 0; i < tw + th; i++) {
        ctx.beginPath();
        ctx.moveTo(sx + inset + i * s, sy + inset);
        ctx.lineTo(sx + inset, sy + inset + i * s);
        ctx.stroke();
      }
    }
    const cx = sx + w / 2;
    const cy = sy + h * 0.42;
    const r = Math.min(w, h) * 0.22;
    ctx.lineWidth = Math.max(1, s * 0.1);
    switch (bt.kind) {
      case 'town_hall':
        ctx.fillStyle = '#7a2e1c';
        ctx.beginPath();
        ctx.moveTo(cx - r * 1.6, cy);
        ctx.lineTo(cx, cy - r * 1.4);
        ctx.lineTo(cx + r * 1.6, cy);
        ctx.fill();
        ctx.fillStyle = '#f0d9a8';
        ctx.fillRect(cx - r, cy, r * 2, r * 1.3);
        ctx.fillStyle = '#4a2c12';
        ctx.fillRect(cx - r * 0.3, cy + r * 0.5, r * 0.6, r * 0.8);
        break;
      case 'harvester':
        ctx.fillStyle = bt.resource === 'elixir' ? '#e9b6ff' : '#fff2a8';
        ctx.beginPath();
        if (bt.resource === 'elixir') {
          ctx.moveTo(cx, cy - r * 1.2);
          ctx.quadraticCurveTo(cx + r * 1.1, cy + r * 0.2, cx, cy + r);
          ctx.quadraticCurveTo(cx - r * 1.1, cy + r * 0.2, cx, cy - r * 1.2);
        } else {
          ctx.arc(cx - r * 0.5, cy + r * 0.3, r * 0.6, 0, Math.PI * 2);
          ctx.arc(cx + r * 0.5, cy + r * 0.3, r * 0.6, 0, Math.PI * 2);
          ctx.arc(cx, cy - r * 0.4, r * 0.6, 0, Math.PI * 2);
        }
        ctx.fill();
        break;
      case 'storage':
        ctx.fillStyle = type.startsWith('elixir') ? '#e2a6ff' : '#ffe680';
        ctx.fillRect(cx - r * 1.1, cy - r * 0.7, r * 2.2, r * 1.5);
        ctx.strokeStyle = dark;
        ctx.strokeRect(cx - r * 1.1, cy - r * 0.7, r * 2.2, r * 1.5);
        break;
      case 'defense':
        ctx.fillStyle = '#3b3f46';
        ctx.beginPath();
        ctx.arc(cx, cy, r * 1.1, 0, Math.PI * 2);
        ctx.fill();
        ctx.strokeStyle = '#222';
        ctx.lineWidth = r * 0.6;
        ctx.beginPath();
        ctx.moveTo(cx, cy);
        ctx.lineTo(cx + r * 1.5, cy - r * 1.1);
        ctx.stroke();
        break;
      case 'trainer':
        ctx.strokeStyle = '#f3e3c0';
        ctx.lineWidth = r * 0.35;
        ctx.beginPath();
        ctx.moveTo(cx - r, cy - r);
        ctx.lineTo(cx + r, cy + r);
        ctx.moveTo(cx + r, cy - r);
        ctx.lineTo(cx - r, cy + r);
        ctx.stroke();
        break;
      case 'army_camp':
        ctx.fillStyle = '#e8d6a8';
        ctx.beginPath();
        ctx.moveTo(cx - r * 1.3, cy + r);
        ctx.lineTo(cx, cy - r * 1.2);
        ctx.lineTo(cx + r * 1.3, cy + r);
        ctx.fill();
        break;
      case 'builder_hut':
        ctx.fillStyle = '#f6c744';
        ctx.beginPath();
        ctx.arc(cx, cy + r * 0.3, r, Math.PI, 0);
        ctx.fill();
        break;
      default:
    }
    // Name label when zoomed in.
    ctx.font = `${Math.round(Math.min(13, s * 0.5))}px system-ui, sans-serif`;
    if (s >= 14 && tw > 1 && ctx.measureText(bt.name).width < w - s * 0.9) {
      ctx.fillStyle = '#fff';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'bottom';
      ctx.shadowColor = 'rgba(0,0,0,0.8)';
      ctx.shadowBlur = 3;
      ctx.fillText(bt.name, cx, sy + h - inset - 1);
      ctx.shadowBlur = 0;
    }
    ctx.globalAlpha = 1;
  }
}
