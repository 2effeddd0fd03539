// The waiting room's page: join the line, watch the position live, reserve
// once admitted, count the hold down. Plain JavaScript, no build step; the
// gateway serves it under Content-Security-Policy: default-src 'self', so
// the page has no inline script or style and builds its DOM with
// createElement and textContent (never innerHTML with data).
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);

  // Stream errors in a row before the page gives up on EventSource and asks
  // /me every POLL_MS instead (a proxy that buffers or drops event streams
  // makes every reconnect fail; EventSource alone would retry forever).
  const STREAM_ERRORS = 3;
  const POLL_MS = 2000;
  // The live numbers change on screen (and are read out) at most this often.
  const NUMBERS_MS = 2000;
  // How often the reservation is read until the hold's expiry is known, and
  // then while it is held (to show a confirm or an expiry).
  const RESERVATION_MS = 1000;
  const HELD_MS = 3000;
  // The seat map is read again this often while the member chooses; the
  // gateway serves one answer per 50 ms to everyone, so this is cheap.
  const SEATS_MS = 5000;
  // Larger maps are not drawn seat by seat (a button each); best available
  // still works.
  const MAX_DRAWN_SEATS = 3000;

  const concertId = concertFromPath(location.pathname);
  const ticketKey = 'boxoffice.ticket.' + concertId;
  const reservationKey = 'boxoffice.reservation.' + concertId;

  const st = {
    room: null, // GET /api/queue/{id}
    identity: 'token', // or "body": the gateway trusts the member id sent
    token: '',
    member: 0,
    ticket: '',
    status: null, // the member's last status
    source: null, // EventSource
    streamErrors: 0,
    pollTimer: 0,
    pass: '',
    passExpiresAt: 0,
    seated: null, // null: not known yet; false: general admission; true: seat map
    seats: new Map(), // seat id → button
    selected: new Set(),
    seatsTimer: 0,
    idemKey: '',
    reservation: null,
    reservationTimer: 0,
    holdExpiresAt: 0,
    lastLogged: '',
    shownStatus: '',
    shownState: '',
    numbersAt: 0,
    numbersTimer: 0,
  };

  document.addEventListener('DOMContentLoaded', start);

  async function start() {
    if (!concertId) {
      setPhase('error');
      showError({ message: 'This address names no concert: open /queue/<concert id>.' });
      return;
    }
    $('concert-id').textContent = String(concertId);
    takeTokenFromHash();
    $('join-form').addEventListener('submit', (ev) => { ev.preventDefault(); join(); });
    $('reserve-ga').addEventListener('click', () => reserve({}));
    $('reserve-seats').addEventListener('click', () => reserve({ seats: Array.from(st.selected) }));
    $('reserve-best').addEventListener('click', reserveBest);
    setInterval(tick, 250);

    const r = await api('GET', '/api/queue/' + concertId);
    if (r.status === 404 && code(r) === 'no_room') {
      setPhase('no_room');
      $('room-state').textContent = 'no waiting room';
      showError({ message: 'This concert has no waiting room: reserve as usual.' });
      return;
    }
    if (r.status !== 200) {
      setPhase('error');
      showError(r.body);
      return;
    }
    showRoom(r.body);
    st.identity = r.body.identity === 'body' ? 'body' : 'token';
    st.ticket = sessionStorage.getItem(ticketKey) || '';
    const reserved = sessionStorage.getItem(reservationKey);
    if (reserved) {
      // A reload after reserving: the reservation, not the line.
      showReservation({ reservationId: reserved, status: '…' });
      return;
    }
    if (st.ticket && (await resume())) {
      return;
    }
    showIdentity();
  }

  // ---- identity ----

  // A link may carry the member token as #token=…: it is kept in
  // sessionStorage (this tab only) and taken out of the address bar, so it
  // is not bookmarked, shared or sent as a referrer.
  function takeTokenFromHash() {
    const m = /^#token=([^&]+)/.exec(location.hash);
    if (m) {
      try {
        sessionStorage.setItem('boxoffice.token', decodeURIComponent(m[1]));
      } catch (e) { /* storage off: the token lives in this page only */ }
      st.token = decodeURIComponent(m[1]);
      history.replaceState(null, '', location.pathname + location.search);
    } else {
      st.token = sessionStorage.getItem('boxoffice.token') || '';
    }
  }

  function showIdentity() {
    setPhase('ready');
    $('identity').hidden = false;
    if (st.identity === 'body') {
      $('member-field').hidden = false;
      const m = sessionStorage.getItem('boxoffice.member');
      if (m) $('member').value = m;
      $('member').focus();
      return;
    }
    const who = memberOfToken(st.token);
    if (who) {
      $('who').hidden = false;
      $('who').textContent = 'Signed in as member ' + who + '.';
      $('join').focus();
    } else {
      $('token-field').hidden = false;
      $('token').focus();
    }
  }

  // memberOfToken reads the token's sub for display only; the gateway
  // verifies the token.
  function memberOfToken(tok) {
    const parts = (tok || '').split('.');
    if (parts.length !== 3) return '';
    try {
      const json = atob(parts[1].replace(/-/g, '+').replace(/_/g, '/'));
      const sub = JSON.parse(json).sub;
      return /^[1-9][0-9]*$/.test(String(sub)) ? String(sub) : '';
    } catch (e) {
      return '';
    }
  }

  // readIdentity takes the member from the form; false (with the reason
  // shown) when it is missing or malformed.
  function readIdentity() {
    if (st.identity === 'body') {
      const v = $('member').value.trim();
      if (!/^[1-9][0-9]{0,17}$/.test(v)) {
        showError({ message: 'The member id is a positive whole number.' });
        $('member').setAttribute('aria-invalid', 'true');
        $('member').focus();
        return false;
      }
      $('member').removeAttribute('aria-invalid');
      st.member = Number(v);
      sessionStorage.setItem('boxoffice.member', v);
      return true;
    }
    if (!$('token-field').hidden) {
      const v = $('token').value.trim();
      if (v.split('.').length !== 3) {
        showError({ message: 'That does not look like a member token (three parts separated by dots).' });
        $('token').setAttribute('aria-invalid', 'true');
        $('token').focus();
        return false;
      }
      $('token').removeAttribute('aria-invalid');
      st.token = v;
      sessionStorage.setItem('boxoffice.token', v);
    }
    return true;
  }

  // ---- the line ----

  async function join() {
    clearError();
    if (!readIdentity()) return;
    $('join').disabled = true;
    const r = await api('POST', '/api/queue/' + concertId, { body: memberBody({}) });
    $('join').disabled = false;
    if (r.status !== 200 && r.status !== 201) {
      showError(r.body);
      return;
    }
    $('identity').hidden = true;
    log(r.status === 201 ? 'Joined the line.' : 'Already in the line: your place is kept.');
    showStatus(r.body);
    follow();
  }

  // resume picks up a ticket this tab had (a reload): true when the gateway
  // still knows it.
  async function resume() {
    const r = await api('GET', meURL());
    if (r.status !== 200) {
      sessionStorage.removeItem(ticketKey);
      st.ticket = '';
      return false;
    }
    if (r.body && r.body.memberId) st.member = r.body.memberId;
    log('Back in the line: your place was kept.');
    showStatus(r.body);
    follow();
    return true;
  }

  function meURL() {
    return '/api/queue/' + concertId + '/me?ticket=' + encodeURIComponent(st.ticket);
  }

  // follow watches the status until admitted or expired: the event stream,
  // or /me every POLL_MS once the stream has failed STREAM_ERRORS times in a
  // row.
  function follow() {
    if (done(st.status)) return;
    if (typeof EventSource === 'undefined') {
      poll();
      return;
    }
    const es = new EventSource('/api/queue/' + concertId + '/stream?ticket=' + encodeURIComponent(st.ticket));
    st.source = es;
    es.addEventListener('open', () => {
      $('connection').textContent = 'Live: this page updates by itself.';
    });
    es.addEventListener('status', (ev) => {
      st.streamErrors = 0;
      let s;
      try {
        s = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      showStatus(s);
      // The gateway ends the stream after admitted or expired; closing
      // first keeps EventSource from reconnecting.
      if (done(s)) closeStream();
    });
    es.addEventListener('error', () => {
      if (st.source !== es) return;
      st.streamErrors++;
      if (st.streamErrors >= STREAM_ERRORS || es.readyState === EventSource.CLOSED) {
        closeStream();
        $('connection').textContent = 'The live connection failed; checking every ' + POLL_MS / 1000 + ' seconds instead.';
        poll();
      } else {
        $('connection').textContent = 'Reconnecting…';
      }
    });
  }

  function closeStream() {
    if (st.source) {
      st.source.close();
      st.source = null;
    }
  }

  async function poll() {
    clearTimeout(st.pollTimer);
    const r = await api('GET', meURL());
    if (r.status === 200) {
      clearError();
      showStatus(r.body);
    } else if (r.status === 404) {
      // not_queued or no_room: the ticket is no good any more.
      sessionStorage.removeItem(ticketKey);
      showError(r.body);
      setPhase('error');
      return;
    } else {
      showError(r.body);
    }
    if (!done(st.status)) st.pollTimer = setTimeout(poll, POLL_MS);
  }

  function done(s) {
    return !!s && (s.status === 'admitted' || s.status === 'expired');
  }

  const stateText = {
    scheduled: 'not open yet',
    open: 'open',
    paused: 'paused: no seat free right now',
    sold_out: 'sold out',
  };

  function showRoom(room) {
    st.room = room;
    $('opens-at').textContent = when(room.opensAt);
    $('room-state').textContent = stateText[room.state] || room.state;
    $('room-waiting').textContent = count(room.waiting, 'person', 'people');
    $('room-rate').textContent = 'up to ' + Number(room.ratePerSecond).toLocaleString() + ' a second';
  }

  function showStatus(s) {
    if (!s || typeof s !== 'object') return;
    if (st.reservation) {
      // After reserving, the line does not matter any more.
      return;
    }
    st.status = s;
    if (s.ticket && s.ticket !== st.ticket) {
      st.ticket = s.ticket;
      sessionStorage.setItem(ticketKey, s.ticket);
    }
    if (s.state) $('room-state').textContent = stateText[s.state] || s.state;
    if (st.room && s.opensAt && s.opensAt !== st.room.opensAt) {
      st.room.opensAt = s.opensAt;
      $('opens-at').textContent = when(s.opensAt);
    }
    $('queue').hidden = false;
    const pos = s.position == null ? '—' : Number(s.position).toLocaleString();
    showNumbers(s, s.status !== st.shownStatus || s.state !== st.shownState);
    st.shownStatus = s.status;
    st.shownState = s.state;
    let line;
    switch (s.status) {
      case 'waiting':
        line = 'You are in the room. At the opening everyone here is drawn into a random order: arriving early gives no better place, only a place.';
        break;
      case 'queued':
        line = s.state === 'paused'
          ? 'You are in line. No seat is free right now, but held seats may come back: keep this page open.'
          : 'You are in line. Keep this page open: it moves by itself.';
        break;
      case 'admitted':
        line = 'It is your turn.';
        break;
      case 'expired':
        line = 'Your pass has expired. You did not reserve in time.';
        break;
      case 'sold_out':
        line = 'Sold out. Every seat is sold; if one comes back, you keep your place in line.';
        break;
      default:
        line = s.status;
    }
    $('status-line').textContent = line;
    setPhase(s.status);
    // One line per change of status or room state, not per position (in a
    // line of 100,000 the position moves every tick).
    const entry = s.status + ' ' + (s.state || '');
    if (entry !== st.lastLogged) {
      st.lastLogged = entry;
      const where = s.position == null ? '' : ' Position ' + pos + '.';
      const logText = {
        waiting: 'Waiting for the opening.',
        queued: 'In line.' + where + (s.state === 'paused' ? ' Paused: no seat free.' : ''),
        admitted: 'Admitted.' + where,
        expired: 'Pass expired.',
        sold_out: 'Sold out.',
      };
      log(logText[s.status] || s.status);
    }
    if (s.status === 'admitted') admitted(s);
    if (s.status === 'expired') endPass();
  }

  // showNumbers renders the position, the people ahead and the wait: at
  // once when the status or the room's state changed, otherwise at most
  // once every NUMBERS_MS. In a long line the position moves at every tick
  // (10 times a second), and the numbers are an aria-live region: a screen
  // reader would otherwise read them out without pause.
  function showNumbers(s, now) {
    clearTimeout(st.numbersTimer);
    const since = Date.now() - st.numbersAt;
    if (!now && since < NUMBERS_MS) {
      st.numbersTimer = setTimeout(() => showNumbers(st.status, true), NUMBERS_MS - since);
      return;
    }
    st.numbersAt = Date.now();
    $('position').textContent = s.position == null ? '—' : Number(s.position).toLocaleString();
    $('ahead').textContent = s.ahead == null ? '—' : Number(s.ahead).toLocaleString();
    $('wait').textContent = estimate(s);
  }

  function estimate(s) {
    if (s.status === 'admitted') return 'now';
    if (s.estimatedWaitSeconds == null) {
      if (s.status === 'waiting') return 'known at the opening';
      if (s.state === 'paused') return 'paused';
      return '—';
    }
    const sec = Number(s.estimatedWaitSeconds);
    if (sec < 1) return 'under a second';
    return 'about ' + duration(sec);
  }

  // ---- admitted ----

  function admitted(s) {
    st.pass = s.pass || st.pass;
    st.passExpiresAt = Date.parse(s.passExpiresAt) || st.passExpiresAt;
    if (!$('admitted').hidden) return;
    closeStream();
    clearTimeout(st.pollTimer);
    $('admitted').hidden = false;
    tick();
    loadSeats(true);
  }

  function endPass() {
    closeStream();
    clearTimeout(st.pollTimer);
    clearTimeout(st.seatsTimer);
    $('admitted').hidden = true;
  }

  // loadSeats decides between the one button (general admission: the seat
  // read answers 404) and the seat map, and refreshes the map in place.
  async function loadSeats(first) {
    clearTimeout(st.seatsTimer);
    const r = await api('GET', '/api/concerts/' + concertId + '/seats');
    if (st.reservation || $('admitted').hidden) return;
    if (r.status === 404 || (r.status === 400 && code(r) === 'not_seated')) {
      st.seated = false;
      $('ga').hidden = false;
      if (first) $('reserve-ga').focus();
      return;
    }
    if (r.status !== 200) {
      showError(r.body);
      st.seatsTimer = setTimeout(() => loadSeats(first), SEATS_MS);
      return;
    }
    st.seated = true;
    $('seated').hidden = false;
    drawSeats(r.body);
    if (first) {
      const firstFree = document.querySelector('#seatmap button.seat:not([disabled])');
      (firstFree || $('reserve-best')).focus();
    }
    st.seatsTimer = setTimeout(() => loadSeats(false), SEATS_MS);
  }

  function drawSeats(av) {
    const total = (av.sections || []).reduce((n, s) => n + s.seats, 0);
    const map = $('seatmap');
    if (st.seats.size === 0) {
      const select = $('best-section');
      for (const sec of av.sections || []) {
        const o = document.createElement('option');
        o.value = sec.name;
        o.textContent = sec.name + (sec.tier ? ' (' + sec.tier + ')' : '');
        select.appendChild(o);
      }
      if (total > MAX_DRAWN_SEATS) {
        map.textContent = 'This house has ' + total.toLocaleString() + ' seats, too many to draw here: choose the best available.';
        st.seats.set('', null);
      } else {
        for (const sec of av.sections || []) map.appendChild(sectionBlock(sec));
      }
    }
    map.dataset.free = String(av.free);
    if (st.seats.has('')) return;
    for (const sec of av.sections || []) {
      for (const row of sec.rows || []) {
        const free = freeSet(row.free);
        for (let n = 1; n <= row.seats; n++) {
          const b = st.seats.get(sec.name + '-' + row.row + '-' + n);
          if (!b) continue;
          const isFree = free.has(n);
          b.disabled = !isFree;
          b.classList.toggle('taken', !isFree);
          b.setAttribute('aria-label', seatLabel(sec.name, row.row, n) + (isFree ? '' : ', taken'));
          if (!isFree && st.selected.delete(b.dataset.seat)) {
            b.setAttribute('aria-pressed', 'false');
          }
        }
      }
    }
    showSelected();
  }

  function sectionBlock(sec) {
    const fs = document.createElement('fieldset');
    fs.className = 'section';
    const legend = document.createElement('legend');
    legend.textContent = 'Section ' + sec.name + (sec.tier ? ' · tier ' + sec.tier : '');
    fs.appendChild(legend);
    for (const row of sec.rows || []) {
      const div = document.createElement('div');
      div.className = 'row';
      div.setAttribute('role', 'group');
      div.setAttribute('aria-label', 'Section ' + sec.name + ', row ' + row.row);
      const label = document.createElement('span');
      label.className = 'row-label';
      label.textContent = 'Row ' + row.row + (row.tier ? ' (' + row.tier + ')' : '');
      label.setAttribute('aria-hidden', 'true');
      div.appendChild(label);
      for (let n = 1; n <= row.seats; n++) {
        const b = document.createElement('button');
        const id = sec.name + '-' + row.row + '-' + n;
        b.type = 'button';
        b.className = 'seat';
        b.textContent = String(n);
        b.dataset.seat = id;
        b.setAttribute('aria-pressed', 'false');
        b.addEventListener('click', () => toggleSeat(b));
        st.seats.set(id, b);
        div.appendChild(b);
      }
      fs.appendChild(div);
    }
    return fs;
  }

  function toggleSeat(b) {
    const id = b.dataset.seat;
    if (st.selected.has(id)) {
      st.selected.delete(id);
      b.setAttribute('aria-pressed', 'false');
    } else {
      st.selected.add(id);
      b.setAttribute('aria-pressed', 'true');
    }
    showSelected();
  }

  function showSelected() {
    const list = Array.from(st.selected);
    $('selected').textContent = list.length ? list.join(', ') : 'none';
    $('reserve-seats').disabled = list.length === 0;
  }

  function reserveBest() {
    const n = Number($('best-count').value);
    if (!Number.isInteger(n) || n < 1) {
      showError({ message: 'The number of seats is a whole number, at least 1.' });
      $('best-count').focus();
      return;
    }
    const section = $('best-section').value;
    if (!section && n === 1) {
      reserve({});
      return;
    }
    const body = { count: n };
    if (section) body.section = section;
    reserve(body);
  }

  // reserve sends the reservation with the pass. One Idempotency-Key per
  // attempt, kept when the answer is lost or 503 (a retry is then the same
  // reservation) and renewed after a refusal.
  async function reserve(extra) {
    clearError();
    if (!st.pass) {
      showError({ message: 'You have no pass (yet).' });
      return;
    }
    if (!st.idemKey) st.idemKey = randomKey();
    setReserveButtons(true);
    setPhase('reserving');
    const body = memberBody(Object.assign({ concertId: concertId }, extra));
    const r = await api('POST', '/api/reservations/async', {
      body: body,
      headers: { 'X-Queue-Pass': st.pass, 'Idempotency-Key': st.idemKey },
    });
    if (r.status === 202 || (r.status === 200 && r.body && r.body.reservationId)) {
      clearTimeout(st.seatsTimer);
      sessionStorage.setItem(reservationKey, r.body.reservationId);
      log('Reserved: ' + r.body.reservationId + (r.body.seats ? ' (' + r.body.seats.join(', ') + ')' : '') + '.');
      showReservation(r.body);
      return;
    }
    if (r.status !== 0 && r.status !== 503) st.idemKey = '';
    setReserveButtons(false);
    setPhase('admitted');
    showError(r.body);
    const c = code(r);
    if (c === 'sold_out') log('Sold out before you reserved.');
    if (c === 'not_admitted') {
      // The pass is not (or no longer) good: back to what /me says.
      st.pass = '';
      endPass();
      poll();
    }
    if (st.seated && (c === 'seats_taken' || c === 'seats_unavailable')) loadSeats(false);
  }

  function showReservation(res) {
    st.reservation = res;
    closeStream();
    clearTimeout(st.pollTimer);
    $('identity').hidden = true;
    $('admitted').hidden = true;
    $('queue').hidden = true;
    $('reservation').hidden = false;
    $('reservation-id').textContent = res.reservationId;
    showSeats(res.seats);
    $('reservation-status').textContent = res.status;
    $('reservation-line').textContent = reservationText.PENDING;
    setPhase('reserved');
    readReservation();
  }

  function setReserveButtons(busy) {
    $('reserve-ga').disabled = busy;
    $('reserve-best').disabled = busy;
    $('reserve-seats').disabled = busy || st.selected.size === 0;
  }

  function showSeats(seats) {
    if (Array.isArray(seats) && seats.length) {
      $('reservation-seats-row').hidden = false;
      $('reservation-seats').textContent = seats.join(', ');
    }
  }

  const reservationText = {
    PENDING: 'Reserved. Waiting for it to be written…',
    HELD: 'Held for you until you pay.',
    CONFIRMED: 'Confirmed. Enjoy the show.',
    CANCELLED: 'Cancelled: the seat went back on sale.',
    EXPIRED: 'The hold ran out before payment: the seat went back on sale.',
    FAILED: 'It could not be written, and the seat went back on sale.',
  };

  // readReservation polls the reservation: quickly until its hold's expiry
  // is known, then slowly while it is held, and stops at an end.
  async function readReservation() {
    clearTimeout(st.reservationTimer);
    const id = st.reservation.reservationId;
    const r = await api('GET', '/api/reservations/' + encodeURIComponent(id));
    let next = RESERVATION_MS;
    if (r.status === 200 && r.body) {
      const res = r.body;
      const was = $('reservation-status').textContent;
      $('reservation-status').textContent = res.status;
      $('reservation-line').textContent = (reservationText[res.status] || res.status) + (res.reason ? ' (' + res.reason + ')' : '');
      showSeats(res.seats);
      if (was !== res.status) log('Reservation ' + res.status.toLowerCase() + '.');
      if (res.status === 'HELD' && res.expiresAt) {
        st.holdExpiresAt = Date.parse(res.expiresAt);
        $('hold').hidden = false;
        tick();
        setPhase('held');
        next = HELD_MS;
      } else if (res.status === 'PENDING' || res.status === 'HELD') {
        next = RESERVATION_MS;
      } else {
        st.holdExpiresAt = 0;
        $('hold').hidden = true;
        setPhase(res.status === 'CONFIRMED' ? 'confirmed' : 'ended');
        return;
      }
      clearError();
    } else if (r.status !== 0 && r.status < 500 && r.status !== 429) {
      if (r.status === 404) sessionStorage.removeItem(reservationKey);
      showError(r.body);
      return;
    }
    st.reservationTimer = setTimeout(readReservation, next);
  }

  // ---- the clock ----

  function tick() {
    const now = Date.now();
    const room = st.room;
    const opens = room ? Date.parse(room.opensAt) : NaN;
    const before = opens > now && (!st.status || st.status.status === 'waiting');
    $('opens-in').hidden = !(before && !st.status);
    $('countdown').hidden = !(before && st.status);
    if (before) {
      const left = clock(opens - now);
      $('opens-in').textContent = 'Opens in ' + left;
      $('countdown').textContent = 'The draw is in ' + left + '.';
    }
    if (st.passExpiresAt && !$('admitted').hidden) {
      const left = st.passExpiresAt - now;
      $('pass-remaining').textContent = left > 0 ? clock(left) : 'no time';
      if (left <= 0) {
        log('Pass expired.');
        st.pass = '';
        endPass();
        setPhase('expired');
        $('queue').hidden = false;
        $('status-line').textContent = 'Your pass has expired. You did not reserve in time.';
      }
    }
    if (st.holdExpiresAt && !$('hold').hidden) {
      const left = st.holdExpiresAt - now;
      $('hold-remaining').textContent = left > 0 ? clock(left) : 'no time: the hold is ending';
    }
  }

  // ---- helpers ----

  function setPhase(p) {
    document.body.dataset.phase = p;
  }

  function log(text) {
    const li = document.createElement('li');
    const t = document.createElement('time');
    const d = new Date();
    t.dateTime = d.toISOString();
    t.textContent = d.toLocaleTimeString();
    li.appendChild(t);
    li.appendChild(document.createTextNode(' ' + text));
    $('log').appendChild(li);
  }

  // Every error answer is {"error": code, "message": …}: the message is
  // for people, and shown as it is.
  function showError(body) {
    const e = $('error');
    const msg = body && body.message ? body.message : 'Something went wrong.';
    e.textContent = msg;
    e.dataset.code = body && body.error ? body.error : '';
    e.hidden = false;
  }

  function clearError() {
    $('error').hidden = true;
    $('error').textContent = '';
    $('error').dataset.code = '';
  }

  function code(r) {
    return r.body && r.body.error ? r.body.error : '';
  }

  function memberBody(body) {
    if (st.identity === 'body' && st.member) body.memberId = st.member;
    return body;
  }

  async function api(method, path, opts) {
    opts = opts || {};
    const headers = Object.assign({ Accept: 'application/json' }, opts.headers || {});
    if (st.identity === 'token' && st.token) headers.Authorization = 'Bearer ' + st.token;
    const init = { method: method, headers: headers, cache: 'no-store' };
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      return { status: 0, body: { error: 'network', message: 'The box office could not be reached. Check your connection; this page tries again.' } };
    }
    const text = await res.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (e) {
      body = { error: 'bad_answer', message: 'The box office answered ' + res.status + ': ' + text.slice(0, 200) };
    }
    return { status: res.status, body: body };
  }

  function concertFromPath(p) {
    const m = /^\/queue\/([1-9][0-9]{0,17})\/?$/.exec(p);
    return m ? Number(m[1]) : 0;
  }

  // freeSet turns "1-4,7,9-20" into the set of those seat numbers.
  function freeSet(ranges) {
    const out = new Set();
    for (const part of (ranges || '').split(',')) {
      if (!part) continue;
      const [a, b] = part.split('-').map(Number);
      for (let n = a; n <= (b || a); n++) out.add(n);
    }
    return out;
  }

  function seatLabel(section, row, n) {
    return 'Section ' + section + ', row ' + row + ', seat ' + n;
  }

  function randomKey() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return 'room-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  function when(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return iso || '—';
    return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  }

  // clock is a countdown: 4:05, 1:02:03.
  function clock(ms) {
    const s = Math.max(0, Math.ceil(ms / 1000));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, '0');
    return h ? h + ':' + String(m).padStart(2, '0') + ':' + ss : m + ':' + ss;
  }

  function duration(sec) {
    if (sec < 60) return Math.round(sec) + ' s';
    if (sec < 3600) return Math.round(sec / 60) + ' min';
    return Math.floor(sec / 3600) + ' h ' + Math.round((sec % 3600) / 60) + ' min';
  }

  function count(n, one, many) {
    return Number(n).toLocaleString() + ' ' + (n === 1 ? one : many);
  }
})();
