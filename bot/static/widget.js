/*
 * Kefu chat widget: add one tag to any page of the shop
 *
 *   <script src="https://bot.example.com/widget.js" defer></script>
 *
 * It talks to Kefu's (or Rasa's) socket.io channel with a small built-in client: Engine.IO v4 /
 * Socket.IO v5 over a plain WebSocket (open packet, ping/pong, namespace connect "40", events
 * 42["event", data]); nothing is loaded from anywhere else.
 *
 * Options: data-* attributes on the script tag (the server fills in its socket.io settings):
 *   data-server        where Kefu runs (default: where widget.js came from)
 *   data-title         header title ("Shop assistant")      data-subtitle   header subtitle
 *   data-greeting      a message sent (not shown) when a new conversation opens, e.g. "/greet"
 *   data-open          "true": open the chat when the page loads
 *   data-token         JWT for a server with jwt_key (sent as the connection's auth {"token"})
 *   data-accent        accent colour (CSS colour)
 *   data-storage-key   prefix of the localStorage keys ("kefu")
 *   data-socket-path, data-namespace, data-user-event, data-bot-event, data-metadata-key
 *
 * Bot messages (the socket.io channel's bot_uttered): {text}, {text, quick_replies|buttons},
 * {attachment: {type: "image", payload: {src}}}, {attachment: {type: "template", payload:
 * {template_type: "generic", elements}}} and Kefu product cards as custom JSON:
 * {products|recommendations: [{title|name, price, currency, image|image_url, pitch|subtitle, url, buttons}], text?}.
 * Anything else is handed to the page as a "kefu:message" event on window.
 *
 * The conversation survives page reloads: the session id and a transcript live in localStorage and
 * the server keeps the conversation (session_persistence: true). Page API: window.KefuWidget.open(),
 * .close(), .send(text, shownAs), .reset(); on the page, an element with data-kefu-send="<message>"
 * (and data-kefu-label) sends that message when clicked, one with data-kefu-open opens the chat.
 */
(function () {
  'use strict';
  if (window.KefuWidget && window.KefuWidget.version) return;

  var script = document.currentScript;
  var data = (script && script.dataset) || {};
  var defaults = window.KEFU_WIDGET_DEFAULTS || {};
  var scriptOrigin = script && script.src ? new URL(script.src, location.href).origin : location.origin;
  var options = {
    server: data.server || defaults.server || scriptOrigin,
    socketPath: data.socketPath || defaults.socketPath || '/socket.io',
    namespace: data.namespace || defaults.namespace || '/',
    userMessageEvt: data.userEvent || defaults.userMessageEvt || 'user_uttered',
    botMessageEvt: data.botEvent || defaults.botMessageEvt || 'bot_uttered',
    metadataKey: data.metadataKey || defaults.metadataKey || 'metadata',
    sessionPersistence: data.sessionPersistence ? data.sessionPersistence === 'true' : defaults.sessionPersistence !== false,
    title: data.title || 'Shop assistant',
    subtitle: data.subtitle || 'We usually answer right away',
    greeting: data.greeting || '',
    openOnLoad: data.open === 'true',
    token: data.token || '',
    accent: data.accent || '',
    storageKey: data.storageKey || 'kefu'
  };
  var MAX_TRANSCRIPT = 150;
  var TYPING_TIMEOUT_MS = 20000;

  // -- storage (never fatal: private modes may refuse) ------------------------------------------------
  var store = {
    get: function (key) {
      try { return JSON.parse(window.localStorage.getItem(options.storageKey + ':' + key)); } catch (e) { return null; }
    },
    set: function (key, value) {
      try { window.localStorage.setItem(options.storageKey + ':' + key, JSON.stringify(value)); } catch (e) { /* full or disabled */ }
    },
    remove: function (key) {
      try { window.localStorage.removeItem(options.storageKey + ':' + key); } catch (e) { /* disabled */ }
    }
  };

  // -- a minimal Socket.IO v5 client over WebSocket ---------------------------------------------------
  function SocketClient(url, namespace, auth, handlers) {
    this.url = url;
    this.namespace = namespace && namespace !== '/' ? namespace : '';
    this.auth = auth;
    this.handlers = handlers;
    this.ws = null;
    this.connected = false;
    this.stopped = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.heartbeat = null;
  }
  SocketClient.prototype.open = function () {
    var self = this;
    clearTimeout(this.retryTimer);
    this.stopped = false;
    if (this.ws && this.ws.readyState <= 1) return;
    var ws;
    try { ws = new WebSocket(this.url); } catch (e) { this._retry(); return; }
    this.ws = ws;
    ws.onmessage = function (event) { if (self.ws === ws) self._packet(String(event.data)); };
    ws.onclose = function () { if (self.ws === ws) self._closed(); };
    ws.onerror = function () { try { ws.close(); } catch (e) { /* closing anyway */ } };
  };
  SocketClient.prototype._prefix = function () { return this.namespace ? this.namespace + ',' : ''; };
  SocketClient.prototype._packet = function (packet) {
    var type = packet.charAt(0);
    if (type === '0') { // Engine.IO open: heartbeat settings, then connect to the namespace
      var info = {};
      try { info = JSON.parse(packet.slice(1)); } catch (e) { /* defaults below */ }
      this.pingWindow = (info.pingInterval || 25000) + (info.pingTimeout || 20000);
      this._beat();
      this.ws.send('40' + this._prefix() + (this.auth ? JSON.stringify(this.auth) : ''));
    } else if (type === '2') { // ping -> pong
      this._beat();
      this.ws.send('3' + packet.slice(1));
    } else if (type === '1') {
      this.ws.close();
    } else if (type === '4') {
      this._message(packet.slice(1));
    }
  };
  SocketClient.prototype._message = function (body) {
    var type = body.charAt(0);
    var rest = body.slice(1);
    var namespace = '';
    if (rest.charAt(0) === '/') {
      var comma = rest.indexOf(',');
      namespace = comma < 0 ? rest : rest.slice(0, comma);
      rest = comma < 0 ? '' : rest.slice(comma + 1);
    }
    if (namespace !== this.namespace) return;
    if (type === '0') {
      this.connected = true;
      this.attempt = 0;
      this.handlers.connect();
    } else if (type === '1') { // the server closed the namespace: start over
      this.connected = false;
      this.ws.close();
    } else if (type === '4') {
      var error = {};
      try { error = JSON.parse(rest); } catch (e) { /* keep {} */ }
      this.stopped = true;
      this.handlers.refused(error.message || 'refused');
      this.ws.close();
    } else if (type === '2') {
      var start = rest.search(/[[{]/); // skip an ack id
      var args;
      try { args = JSON.parse(rest.slice(start)); } catch (e) { return; }
      if (Array.isArray(args)) this.handlers.event(args[0], args[1]);
    }
  };
  SocketClient.prototype.emit = function (event, payload) {
    if (!this.connected) return false;
    this.ws.send('42' + this._prefix() + JSON.stringify([event, payload]));
    return true;
  };
  SocketClient.prototype._beat = function () {
    var self = this;
    clearTimeout(this.heartbeat);
    this.heartbeat = setTimeout(function () { if (self.ws) self.ws.close(); }, this.pingWindow || 45000);
  };
  SocketClient.prototype._closed = function () {
    clearTimeout(this.heartbeat);
    var was = this.connected;
    this.connected = false;
    this.ws = null;
    this.handlers.disconnect(was);
    if (!this.stopped) this._retry();
  };
  SocketClient.prototype._retry = function () {
    var self = this;
    var delay = Math.min(10000, 500 * Math.pow(2, this.attempt)) * (0.8 + Math.random() * 0.4);
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.handlers.retrying(delay);
    this.retryTimer = setTimeout(function () { self.open(); }, delay);
  };
  SocketClient.prototype.reconnectNow = function () {
    if (this.stopped || this.connected) return;
    this.attempt = 0;
    if (this.ws) { try { this.ws.close(); } catch (e) { /* reopened below */ } this.ws = null; }
    this.open();
  };
  SocketClient.prototype.close = function () {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close();
  };

  // -- DOM helpers ----------------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === undefined || value === null || value === false) return;
      if (key === 'text') node.textContent = value;
      else if (key === 'className') node.className = value;
      else if (key.slice(0, 2) === 'on') node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : value);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }
  function srOnly(text) { return el('span', { className: 'kefu-sr', text: text }); }
  function safeUrl(value, images) {
    if (typeof value !== 'string' || !value) return null;
    try {
      var url = new URL(value, location.href);
      if (url.protocol === 'http:' || url.protocol === 'https:') return url.href;
      if (!images && (url.protocol === 'mailto:' || url.protocol === 'tel:')) return url.href;
      if (images && url.protocol === 'data:' && /^data:image\//.test(value)) return value;
    } catch (e) { /* not a URL */ }
    return null;
  }
  function linkify(text) {
    var fragment = document.createDocumentFragment();
    var pattern = /https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
    var last = 0;
    var match;
    while ((match = pattern.exec(text)) !== null) {
      fragment.appendChild(document.createTextNode(text.slice(last, match.index)));
      fragment.appendChild(el('a', { href: match[0], target: '_blank', rel: 'noopener noreferrer', text: match[0] }));
      last = match.index + match[0].length;
    }
    fragment.appendChild(document.createTextNode(text.slice(last)));
    return fragment;
  }
  function formatPrice(price, currency) {
    if (price === undefined || price === null || price === '') return '';
    if (typeof price === 'number' && /^[A-Z]{3}$/.test(currency || '')) {
      try { return new Intl.NumberFormat(undefined, { style: 'currency', currency: currency }).format(price); } catch (e) { /* below */ }
    }
    if (typeof price === 'number') return (currency ? currency + ' ' : '') + price.toFixed(2);
    return String(price);
  }
  var ICON_CHAT = '<svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true" focusable="false"><path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z"/></svg>';
  var ICON_CLOSE = '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false"><path fill="currentColor" d="M18.3 5.7 12 12l6.3 6.3-1.4 1.4L10.6 13.4 4.3 19.7 2.9 18.3 9.2 12 2.9 5.7 4.3 4.3l6.3 6.3 6.3-6.3z"/></svg>';
  var ICON_SEND = '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false"><path fill="currentColor" d="M2 21 23 12 2 3v7l15 2-15 2z"/></svg>';

  // -- the widget -----------------------------------------------------------------------------------
  var state = {
    sessionId: options.sessionPersistence ? store.get('session') : null,
    entries: [],
    confirmed: false,
    pending: [],
    open: false,
    unread: 0,
    typingTimer: null
  };
  var saved = options.sessionPersistence ? store.get('transcript') : null;
  if (saved && saved.sessionId && saved.sessionId === state.sessionId && Array.isArray(saved.entries)) {
    state.entries = saved.entries.slice(-MAX_TRANSCRIPT);
  }

  function ensureStyles() {
    if (document.querySelector('link[data-kefu-style]')) return;
    var href = scriptOrigin + '/widget.css';
    if (script && script.src) href = new URL('widget.css', script.src).href;
    document.head.appendChild(el('link', { rel: 'stylesheet', href: href, 'data-kefu-style': true }));
  }
  ensureStyles();

  var root = el('div', { className: 'kefu-root', 'data-state': 'closed' });
  if (options.accent) root.style.setProperty('--kefu-accent', options.accent);
  var launcher = el('button', {
    type: 'button', className: 'kefu-launcher', 'aria-expanded': 'false', 'aria-controls': 'kefu-panel',
    'aria-label': 'Open chat with the ' + options.title.toLowerCase()
  });
  launcher.innerHTML = ICON_CHAT; // a constant icon, no message content
  var badge = el('span', { className: 'kefu-badge', hidden: true, 'aria-hidden': 'true' });
  launcher.appendChild(badge);

  var statusText = el('p', { className: 'kefu-status', id: 'kefu-status', role: 'status', text: 'Connecting…' });
  var closeButton = el('button', { type: 'button', className: 'kefu-close', 'aria-label': 'Close chat' });
  closeButton.innerHTML = ICON_CLOSE;
  var header = el('header', { className: 'kefu-header' }, [
    el('div', { className: 'kefu-avatar', 'aria-hidden': 'true', text: options.title.charAt(0).toUpperCase() }),
    el('div', { className: 'kefu-heading' }, [
      el('h2', { className: 'kefu-title', id: 'kefu-title', text: options.title }),
      statusText
    ]),
    closeButton
  ]);
  var log = el('div', {
    className: 'kefu-log', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions',
    'aria-label': 'Conversation with the ' + options.title.toLowerCase(), tabindex: '0'
  });
  var intro = el('p', { className: 'kefu-intro', text: options.subtitle });
  var typing = el('div', { className: 'kefu-typing', hidden: true }, [
    srOnly(options.title + ' is typing'),
    el('span', { className: 'kefu-dot', 'aria-hidden': 'true' }),
    el('span', { className: 'kefu-dot', 'aria-hidden': 'true' }),
    el('span', { className: 'kefu-dot', 'aria-hidden': 'true' })
  ]);
  var input = el('textarea', {
    id: 'kefu-input', className: 'kefu-input', rows: '1', maxlength: '2000', autocomplete: 'off',
    enterkeyhint: 'send', placeholder: 'Type your message…', 'aria-describedby': 'kefu-hint'
  });
  var sendButton = el('button', { type: 'submit', className: 'kefu-send', 'aria-label': 'Send message' });
  sendButton.innerHTML = ICON_SEND;
  var form = el('form', { className: 'kefu-form', 'aria-label': 'Send a message' }, [
    el('label', { 'for': 'kefu-input', className: 'kefu-sr', text: 'Message to the ' + options.title.toLowerCase() }),
    el('span', { id: 'kefu-hint', className: 'kefu-sr', text: 'Press Enter to send, Shift+Enter for a new line, Escape to close the chat.' }),
    input,
    sendButton
  ]);
  var panel = el('section', {
    id: 'kefu-panel', className: 'kefu-panel', role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': 'kefu-title',
    'aria-describedby': 'kefu-status', hidden: true
  }, [header, el('div', { className: 'kefu-scroll' }, [intro, log, typing]), form]);
  root.appendChild(panel);
  root.appendChild(launcher);

  function scrollDown() {
    var scroller = panel.querySelector('.kefu-scroll');
    scroller.scrollTop = scroller.scrollHeight;
  }

  function setStatus(text, online) {
    statusText.textContent = text;
    root.setAttribute('data-online', online ? 'true' : 'false');
  }

  function showTyping(on) {
    clearTimeout(state.typingTimer);
    typing.hidden = !on;
    if (on) {
      state.typingTimer = setTimeout(function () { typing.hidden = true; }, TYPING_TIMEOUT_MS);
      scrollDown();
    }
  }

  // -- rendering ------------------------------------------------------------------------------------
  function bubble(who, text) {
    var node = el('div', { className: 'kefu-msg kefu-' + who }, [srOnly(who === 'user' ? 'You: ' : options.title + ': ')]);
    node.appendChild(linkify(String(text)));
    return node;
  }

  function replies(buttons, live) {
    var group = el('div', { className: 'kefu-replies', role: 'group', 'aria-label': 'Suggested replies' });
    buttons.forEach(function (button) {
      if (!button || typeof button !== 'object') return;
      var title = String(button.title || button.payload || '');
      var url = safeUrl(button.url || (/^https?:/.test(button.payload || '') ? button.payload : ''), false);
      if (url) {
        group.appendChild(el('a', { className: 'kefu-reply', href: url, target: '_blank', rel: 'noopener noreferrer', text: title }));
        return;
      }
      group.appendChild(el('button', {
        type: 'button', className: 'kefu-reply', text: title, disabled: !live,
        onclick: function () { sendMessage(String(button.payload || title), title); }
      }));
    });
    return group;
  }

  function card(item, live) {
    if (!item || typeof item !== 'object') return null;
    var title = item.title || item.name || '';
    var image = safeUrl(item.image_url || item.image || item.img, true);
    var price = formatPrice(item.price, item.currency);
    var pitch = item.pitch || item.subtitle || item.description || '';
    var url = safeUrl(item.url || (item.default_action && item.default_action.url), false);
    var body = el('div', { className: 'kefu-card-body' }, [
      el('h3', { className: 'kefu-card-title' }, [url ? el('a', { href: url, target: '_blank', rel: 'noopener noreferrer', text: title }) : document.createTextNode(title)]),
      price ? el('p', { className: 'kefu-card-price' }, [srOnly('Price: '), document.createTextNode(price)]) : null,
      pitch ? el('p', { className: 'kefu-card-pitch', text: pitch }) : null
    ]);
    if (Array.isArray(item.buttons) && item.buttons.length) {
      var actions = replies(item.buttons.map(function (b) {
        return { title: b.title, payload: b.payload, url: b.url };
      }), live);
      actions.className = 'kefu-card-actions';
      actions.setAttribute('aria-label', 'Actions for ' + title);
      body.appendChild(actions);
    }
    var media = null;
    if (image) {
      media = el('img', { className: 'kefu-card-img', src: image, alt: title ? title : '', loading: 'lazy' });
      media.addEventListener('error', function () { media.classList.add('kefu-broken'); media.removeAttribute('src'); });
    }
    return el('li', { className: 'kefu-card' }, [media, body]);
  }

  function cards(items, live) {
    var list = el('ul', { className: 'kefu-cards', 'aria-label': items.length === 1 ? 'Product' : items.length + ' products' });
    items.forEach(function (item) { var node = card(item, live); if (node) list.appendChild(node); });
    return el('div', { className: 'kefu-msg kefu-bot kefu-rich' }, [srOnly(options.title + ' suggests: '), list]);
  }

  function image(src, alt) {
    var url = safeUrl(src, true);
    if (!url) return null;
    var img = el('img', { className: 'kefu-image', src: url, alt: alt || 'Image from ' + options.title, loading: 'lazy' });
    var node = el('div', { className: 'kefu-msg kefu-bot kefu-rich' }, [img]);
    img.addEventListener('error', function () {
      node.replaceChildren(srOnly(options.title + ': '), el('a', { href: url, target: '_blank', rel: 'noopener noreferrer', text: 'Open the image' }));
    });
    return node;
  }

  function productsOf(custom) {
    if (!custom || typeof custom !== 'object') return null;
    var list = custom.products || custom.recommendations || custom.items || (custom.type === 'products' || custom.type === 'product_cards' ? custom.elements : null);
    return Array.isArray(list) ? list : null;
  }

  // DOM nodes for one transcript entry; `live` = its buttons can still be pressed
  function renderEntry(entry, live) {
    var nodes = [];
    var msg = entry.message || {};
    if (entry.who === 'user') return [bubble('user', entry.shown || msg.text || '')];
    var buttons = msg.quick_replies || msg.buttons;
    if (msg.text) nodes.push(bubble('bot', msg.text));
    if (Array.isArray(buttons) && buttons.length && live) nodes.push(replies(buttons, true));
    if (msg.image) nodes.push(image(msg.image));
    var attachment = msg.attachment;
    if (attachment && typeof attachment === 'object') {
      var payload = attachment.payload || {};
      if (attachment.type === 'image') nodes.push(image(payload.src || payload.url, payload.alt));
      else if (attachment.type === 'template' && payload.elements) {
        nodes.push(cards(Array.isArray(payload.elements) ? payload.elements : [payload.elements], true));
      } else if (payload.src || payload.url) {
        var link = safeUrl(payload.src || payload.url, false);
        if (link) nodes.push(el('div', { className: 'kefu-msg kefu-bot' }, [srOnly(options.title + ': '), el('a', { href: link, target: '_blank', rel: 'noopener noreferrer', text: 'Open the ' + (attachment.type || 'file') })]));
      }
    }
    var products = productsOf(msg.custom || msg);
    if (products) {
      var custom = msg.custom || {};
      if (custom.text && !msg.text) nodes.push(bubble('bot', custom.text));
      nodes.push(cards(products, true));
    } else if (msg.custom && typeof msg.custom === 'object' && msg.custom.text) {
      nodes.push(bubble('bot', msg.custom.text));
    }
    return nodes.filter(Boolean);
  }

  function renderAll() {
    log.replaceChildren();
    var lastUser = -1; // replies offered after the shopper's last message can still be pressed
    state.entries.forEach(function (entry, index) { if (entry.who === 'user') lastUser = index; });
    state.entries.forEach(function (entry, index) {
      renderEntry(entry, index > lastUser).forEach(function (node) { log.appendChild(node); });
    });
    intro.hidden = state.entries.length > 0;
    scrollDown();
  }

  function dropReplies() {
    var hadFocus = panel.contains(document.activeElement) && document.activeElement.classList.contains('kefu-reply');
    Array.prototype.forEach.call(log.querySelectorAll('.kefu-replies'), function (group) { group.remove(); });
    if (hadFocus) input.focus();
  }

  function save() {
    if (!options.sessionPersistence || !state.sessionId) return;
    state.entries = state.entries.slice(-MAX_TRANSCRIPT);
    store.set('transcript', { sessionId: state.sessionId, entries: state.entries });
  }

  function addEntry(entry) {
    state.entries.push(entry);
    save();
    if (entry.who === 'user') dropReplies();
    renderEntry(entry, true).forEach(function (node) { log.appendChild(node); });
    intro.hidden = true;
    scrollDown();
  }

  // -- conversation ---------------------------------------------------------------------------------
  function emitMessage(text) {
    var payload = { message: text, session_id: state.sessionId };
    payload[options.metadataKey] = { page: location.pathname };
    return socket.emit(options.userMessageEvt, payload);
  }

  function sendMessage(text, shown, silent) {
    text = String(text || '').trim();
    if (!text) return;
    if (!silent) addEntry({ who: 'user', message: { text: text }, shown: shown && shown !== text ? shown : undefined, t: Date.now() });
    if (state.confirmed && emitMessage(text)) showTyping(true);
    else {
      state.pending.push(text);
      showTyping(false);
    }
  }

  function onBotMessage(message) {
    if (!message || typeof message !== 'object') return;
    showTyping(false);
    var entry = { who: 'bot', message: message, t: Date.now() };
    if (!renderEntry(entry, true).length) { // nothing the widget draws: let the page handle it
      window.dispatchEvent(new CustomEvent('kefu:message', { detail: message }));
      return;
    }
    addEntry(entry);
    if (!state.open) {
      state.unread += 1;
      badge.textContent = String(state.unread);
      badge.hidden = false;
      launcher.setAttribute('aria-label', 'Open chat with the ' + options.title.toLowerCase() + ' (' + state.unread + ' new)');
    }
  }

  function onSessionConfirm(sessionId) {
    if (typeof sessionId !== 'string' || !sessionId) return;
    if (state.sessionId && sessionId !== state.sessionId) { // the server started a new conversation
      state.entries = [];
      renderAll();
    }
    state.sessionId = sessionId;
    state.confirmed = true;
    if (options.sessionPersistence) store.set('session', sessionId);
    save();
    setStatus('Online', true);
    var pending = state.pending.splice(0);
    pending.forEach(function (text) { emitMessage(text); });
    if (pending.length) showTyping(true);
    maybeGreet();
  }

  function maybeGreet() {
    if (!options.greeting || !state.open || !state.confirmed || state.entries.length || state.greeted) return;
    state.greeted = true;
    sendMessage(options.greeting, null, true);
  }

  var wsBase = options.server.replace(/^http/, 'ws').replace(/\/$/, '');
  var socket = new SocketClient(
    wsBase + options.socketPath.replace(/\/$/, '') + '/?EIO=4&transport=websocket',
    options.namespace,
    options.token ? { token: options.token } : null,
    {
      connect: function () {
        setStatus('Connected', true);
        socket.emit('session_request', { session_id: options.sessionPersistence ? state.sessionId : null });
      },
      disconnect: function () {
        state.confirmed = false;
        showTyping(false);
      },
      retrying: function (delay) {
        setStatus('Reconnecting…', false);
        root.setAttribute('data-retry-ms', String(Math.round(delay)));
      },
      refused: function (why) {
        setStatus('Chat unavailable (' + why + ')', false);
      },
      event: function (name, payload) {
        if (name === 'session_confirm') onSessionConfirm(payload);
        else if (name === options.botMessageEvt) onBotMessage(payload);
      }
    }
  );

  // -- open / close, keyboard -----------------------------------------------------------------------
  function openPanel(focus) {
    state.open = true;
    panel.hidden = false;
    root.setAttribute('data-state', 'open');
    launcher.setAttribute('aria-expanded', 'true');
    launcher.setAttribute('aria-label', 'Close chat with the ' + options.title.toLowerCase());
    state.unread = 0;
    badge.hidden = true;
    store.set('open', true);
    scrollDown();
    if (focus !== false) input.focus();
    maybeGreet();
  }

  function closePanel() {
    state.open = false;
    panel.hidden = true;
    root.setAttribute('data-state', 'closed');
    launcher.setAttribute('aria-expanded', 'false');
    launcher.setAttribute('aria-label', 'Open chat with the ' + options.title.toLowerCase());
    store.set('open', false);
    launcher.focus();
  }

  launcher.addEventListener('click', function () { if (state.open) closePanel(); else openPanel(); });
  closeButton.addEventListener('click', closePanel);
  panel.addEventListener('keydown', function (event) {
    if (event.key === 'Escape') { event.preventDefault(); closePanel(); }
  });
  input.addEventListener('keydown', function (event) {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event('submit', { cancelable: true }));
    }
  });
  input.addEventListener('input', function () {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight, 120) + 'px';
  });
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var text = input.value;
    input.value = '';
    input.style.height = 'auto';
    sendMessage(text);
  });
  document.addEventListener('click', function (event) { // <button data-kefu-send="/track_order">Track</button>
    var trigger = event.target.closest ? event.target.closest('[data-kefu-send], [data-kefu-open]') : null;
    if (!trigger || root.contains(trigger)) return;
    event.preventDefault();
    var text = trigger.getAttribute('data-kefu-send');
    if (text) state.greeted = true; // the shopper starts the conversation with this message
    if (!state.open) openPanel(!text);
    if (text) sendMessage(text, trigger.getAttribute('data-kefu-label') || trigger.textContent.trim());
  });
  window.addEventListener('online', function () { socket.reconnectNow(); });
  document.addEventListener('visibilitychange', function () { if (!document.hidden) socket.reconnectNow(); });

  function mount() {
    document.body.appendChild(root);
    renderAll();
    socket.open();
    if (options.openOnLoad || store.get('open')) openPanel(false);
  }

  window.KefuWidget = {
    version: '1',
    open: function () { openPanel(); },
    close: closePanel,
    send: function (text, shown) { if (!state.open) openPanel(); sendMessage(text, shown); },
    reset: function () {
      store.remove('session');
      store.remove('transcript');
      state.sessionId = null;
      state.entries = [];
      state.greeted = false;
      renderAll();
      socket.close();
      socket.stopped = false;
      socket.open();
    },
    _socket: socket
  };

  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);
})();
