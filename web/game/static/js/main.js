// main.js: boot. Load the game data, sign in (or resume the stored
// session), open the socket. window.rampart exposes the pieces for the
// browser test to read (never to drive: the test clicks).

import { Net } from './net.js';
import { App } from './app.js';
import { plain } from './rules.js';

async function boot() {
  const net = new Net('');
  const app = new App(net);
  window.rampart = { net, app, view: app.view };
  try {
    await app.loadRules();
    await net.start();
  } catch (e) {
    document.querySelector('#app').dataset.state = 'error';
    document.querySelector('#overlay-text').textContent = `Could not start: ${plain(e)}`;
    const b = document.querySelector('#overlay-button');
    b.textContent = 'Try again';
    b.onclick = () => location.reload();
    document.querySelector('#overlay').hidden = false;
  }
}

boot();
