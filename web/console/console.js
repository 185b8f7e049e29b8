/*
 * hookd console (contract §16): one page over the /v1 API of the hookd that
 * serves it. Plain JavaScript, no framework, no build step, no external
 * requests.
 *
 * Safe by construction: every value that comes from the API is put into the
 * page as text (el() below creates elements and text nodes only; nothing
 * here assigns innerHTML or builds HTML from strings). A URL from the API
 * is shown as text, never as a link. The only links are the console's own
 * "#/..." views. The page is served with a Content-Security-Policy that
 * allows no inline script, so an injected handler could not run anyway.
 *
 * The token is kept in sessionStorage (this tab only, gone when it
 * closes), never in localStorage, a cookie or a URL, and is sent as
 * "Authorization: Bearer" on every request to this origin's /v1 API.
 */
"use strict";

(function () {
	var TOKEN_KEY = "hookd.token";
	var CLIENT_KEY = "hookd.client";	/* the sign-in's Client id */
	var PAGE = 25;		/* rows a list asks for at a time */
	var MAX_LIMIT = 1000;	/* the API's largest ?limit= */
	var REFRESH_MS = 2500;
	/*
	 * sessionStorage "hookd.pageSize" (1..1000), when set, is both the
	 * rows "More" asks for and the largest ?limit= a refresh asks for,
	 * so the browser test pages through a few rows as through thousands.
	 */
	var PAGE_SIZE = Number(sessionStorage.getItem("hookd.pageSize"));

	if (PAGE_SIZE >= 1 && PAGE_SIZE <= MAX_LIMIT &&
	    Math.floor(PAGE_SIZE) === PAGE_SIZE)
		PAGE = MAX_LIMIT = PAGE_SIZE;

	var S = {
		token: null,
		role: null,	/* "admin" or "client" */
		client: null,	/* a client token's own client id, once known */
		/*
		 * Hookd-Client (contract §17), for a sharding proxy in front
		 * of several nodes: shard is the sign-in's optional Client id,
		 * sent on every request; filterClient the admin view's client
		 * filter, sent when there is no shard.
		 */
		shard: null,
		filterClient: null,
		gen: 0,		/* bumped on every view change: stale answers are dropped */
		view: null,	/* { refresh: function () -> Promise } */
		busy: false,
		again: false,	/* a refresh was asked for while one ran */
		nextNotice: null, /* shown once the next view is open */
		revealed: {},	/* endpoint id -> true while its secret is shown */
		errorFromRefresh: false
	};

	/*
	 * el(tag, attrs, ...children): a new element. attrs sets attributes
	 * (an "on..." member that is a function becomes an event listener; an
	 * href must be one of the console's own "#/" links); children are
	 * nodes or values, the values added as text nodes. Nothing is parsed
	 * as HTML.
	 */
	function el(tag, attrs) {
		var e = document.createElement(tag);
		var k, v, i;

		attrs = attrs || {};
		for (k in attrs) {
			if (!Object.prototype.hasOwnProperty.call(attrs, k))
				continue;
			v = attrs[k];
			if (v === null || v === undefined || v === false)
				continue;
			if (k.slice(0, 2) === "on") {
				if (typeof v === "function")
					e.addEventListener(k.slice(2), v);
				continue;
			}
			if (k === "href" && String(v).slice(0, 2) !== "#/")
				throw new Error("el: only #/ links");
			if (k === "value")
				e.value = String(v);
			else if (k === "checked")
				e.checked = !!v;
			else
				e.setAttribute(k, v === true ? "" : String(v));
		}
		for (i = 2; i < arguments.length; i++)
			add(e, arguments[i]);
		return e;
	}

	function add(parent, c) {
		var i;

		if (c === null || c === undefined || c === false)
			return;
		if (Array.isArray(c)) {
			for (i = 0; i < c.length; i++)
				add(parent, c[i]);
		} else if (c instanceof Node) {
			parent.appendChild(c);
		} else {
			parent.appendChild(document.createTextNode(String(c)));
		}
	}

	function $(id) {
		return document.getElementById(id);
	}

	function clear(node) {
		while (node.firstChild)
			node.removeChild(node.firstChild);
	}

	/* A link to one of the console's views: "#/" + parts, ids encoded. */
	function link(text, view, id, params) {
		var h = "#/" + view;
		var q;

		if (id)
			h += "/" + encodeURIComponent(id);
		if (params) {
			q = new URLSearchParams();
			Object.keys(params).forEach(function (k) {
				if (params[k])
					q.set(k, params[k]);
			});
			if (q.toString())
				h += "?" + q.toString();
		}
		return el("a", { href: h }, text);
	}

	function json(v) {
		return JSON.stringify(v, null, 2);
	}

	/* A status badge; the class comes from a fixed list, not from data. */
	var KNOWN = { pending: 1, delivered: 1, failed: 1, enabled: 1, disabled: 1 };
	function badge(s) {
		return el("span", { "class": "status" +
		    (KNOWN[s] === 1 ? " status-" + s : "") }, s);
	}

	/* An endpoint's policy member: null means the global setting (the
	 * config file's), which the API does not show. */
	function orGlobal(v) {
		return v === null || v === undefined ? el("span",
		    { "class": "muted policy-global" }, "global default") : v;
	}

	function orNone(v) {
		return v === null || v === undefined ? el("span",
		    { "class": "muted" }, "none") : v;
	}

	/* ------------------------------------------------ messages */

	function showError(msg, fromRefresh) {
		var p = $("error");

		p.textContent = msg;
		p.hidden = false;
		S.errorFromRefresh = !!fromRefresh;
	}

	function clearError() {
		$("error").hidden = true;
		$("error").textContent = "";
		S.errorFromRefresh = false;
	}

	function notice(msg) {
		var p = $("notice");

		clear(p);
		add(p, msg);
		p.hidden = !msg;
	}

	/* ----------------------------------------------------- API */

	/*
	 * One request to the API. body: an object (sent as JSON), a string
	 * (sent as is, already JSON) or undefined; extra: more request
	 * headers (Idempotency-Key) or undefined. Resolves to the parsed
	 * answer (null for 204); rejects with an Error whose message is the
	 * API's own {"error"} text, and .status the HTTP status.
	 */
	function api(method, path, body, extra) {
		var route = S.shard || S.filterClient;
		var opts = {
			method: method,
			headers: Object.assign(route ? { "Hookd-Client": route } :
			    {}, extra || {}, { "Authorization": "Bearer " + S.token }),
			cache: "no-store",
			credentials: "omit",
			redirect: "error"
		};

		if (body !== undefined) {
			opts.headers["Content-Type"] = "application/json";
			opts.body = typeof body === "string" ? body :
			    JSON.stringify(body);
		}
		return fetch(path, opts).catch(function () {
			/* No answer at all ("Failed to fetch"): hookd is down
			 * or restarting. Status 0 marks it. */
			var err = new Error(UNREACHABLE);

			err.status = 0;
			err.apiMessage = UNREACHABLE;
			throw err;
		}).then(function (r) {
			return r.text().then(function (text) {
				var data = null, msg, err;

				if (text) {
					try {
						data = JSON.parse(text);
					} catch (e) {
						data = text;
					}
				}
				if (r.ok)
					return data;
				msg = data && typeof data === "object" &&
				    typeof data.error === "string" ? data.error :
				    (typeof data === "string" && data ? data :
				    r.statusText);
				err = new Error(r.status + ": " + msg);
				err.status = r.status;
				err.apiMessage = msg;
				throw err;
			});
		});
	}

	var UNREACHABLE = "hookd is not reachable (it may be restarting)";

	/*
	 * 1 when v can go in a header as it is (visible ASCII): fetch()
	 * throws on anything else. Whether it is a client id is hookd's to
	 * say (its 400 names the rule).
	 */
	function headerSafe(v) {
		return typeof v === "string" && /^[\x21-\x7e]+$/.test(v);
	}

	/*
	 * The Hookd-Client header of an admin's action that names client id
	 * (creating it, its endpoint or event; rotating or deleting it), so
	 * that a sharding proxy sends it to that client's node: over the
	 * view's filter; undefined when the sign-in named a client (that one
	 * goes) or id cannot be a header.
	 */
	function about(id) {
		return S.role === "admin" && !S.shard && headerSafe(id) ?
		    { "Hookd-Client": id } : undefined;
	}

	function qs(params) {
		var q = new URLSearchParams();

		Object.keys(params).forEach(function (k) {
			if (params[k] !== null && params[k] !== undefined &&
			    params[k] !== "")
				q.set(k, params[k]);
		});
		q = q.toString();
		return q ? "?" + q : "";
	}

	function enc(id) {
		return encodeURIComponent(id);
	}

	/*
	 * A user's action: run fn (a Promise), then show ok (a message) and
	 * refresh the view; on failure show the API's message. A 401 means
	 * the token no longer works: sign out, saying why.
	 */
	function act(fn, ok) {
		clearError();
		return fn().then(function (res) {
			notice(typeof ok === "function" ? ok(res) : ok);
			return refreshNow();
		}, failed);
	}

	function failed(e) {
		if (e && e.status === 401) {
			signOut();
			showError("Signed out: " + e.apiMessage);
			return;
		}
		if (e && e.status === 0) {
			showError(UNREACHABLE + ": nothing was done; try again " +
			    "once it is back");
			return;
		}
		showError(e && e.message ? e.message : String(e));
	}

	/* ------------------------------------------------ paged lists */

	/*
	 * A table over a list route that pages through "next" cursors. A
	 * refresh keeps every row shown: it asks again from the start, page
	 * after page (each at most MAX_LIMIT rows, and maybe fewer where the
	 * API cut a page at its 4 MiB cap), following "next" until the last
	 * row shown is in again (new rows ahead of it, as at the top of the
	 * newest-first events, add to the count) or the list ends. When the
	 * list shown had reached its end (no "More"), it follows "next" to
	 * the end again, so that rows added past the last one (the
	 * oldest-first deliveries) show too. Should that row be gone, or
	 * the list grow fast, it stops MAX_LIMIT rows past the count shown. It
	 * redraws only when the answer changed, so a focused button or a
	 * selection survives a refresh that changed nothing.
	 */
	function pagedTable(path, params, headers, row, empty) {
		var box = el("div");
		var st = { rows: [], next: null, last: null, seq: 0 };

		function draw() {
			var body = el("tbody");

			clear(box);
			if (!st.rows.length) {
				add(box, el("p", { "class": "muted" }, empty));
				return;
			}
			st.rows.forEach(function (r) {
				add(body, row(r));
			});
			add(box, el("table", {},
			    el("thead", {}, el("tr", {}, headers.map(function (h) {
				return el("th", { scope: "col" }, h);
			    }))), body));
			add(box, el("div", { "class": "bar" },
			    el("span", { "class": "muted" }, st.rows.length +
			    " shown"),
			    st.next ? el("button", { type: "button",
			    onclick: more }, "More") : null));
		}

		function more() {
			var p = Object.assign({}, params, { limit: PAGE,
			    after: st.next });
			var gen = S.gen;

			api("GET", path + qs(p)).then(function (res) {
				var have = {};

				if (gen !== S.gen)
					return;
				/* A refresh may have brought some in already. */
				st.rows.forEach(function (r) {
					have[r.id] = true;
				});
				st.rows = st.rows.concat(res.data.filter(function (r) {
					return !have[r.id];
				}));
				st.next = res.next;
				st.seq++;
				st.last = JSON.stringify([st.rows, st.next]);
				draw();
			}, failed);
		}

		function load() {
			var want = Math.max(PAGE, st.rows.length);
			var lastId = st.rows.length ?
			    st.rows[st.rows.length - 1].id : null;
			var gen = S.gen, seq = st.seq;
			var rows = [];
			var atEnd = st.rows.length > 0 && !st.next;

			function page(after) {
				var n = Math.min(MAX_LIMIT,
				    Math.max(PAGE, want - rows.length));

				return api("GET", path + qs(Object.assign({},
				    params, { limit: n, after: after })))
				    .then(function (res) {
					var found = res.data.some(function (r) {
						return r.id === lastId;
					});

					rows = rows.concat(res.data);
					if (res.next && (lastId === null ?
					    rows.length < want : (atEnd || !found) &&
					    rows.length < want + MAX_LIMIT))
						return page(res.next);
					return res.next;
				    });
			}

			return page(null).then(function (next) {
				var key = JSON.stringify([rows, next]);

				/* A "More" that answered meanwhile wins. */
				if (gen !== S.gen || seq !== st.seq ||
				    key === st.last)
					return;
				st.rows = rows;
				st.next = next;
				st.last = key;
				draw();
			});
		}

		return { node: box, load: load };
	}

	/* A data part drawn from one GET, redrawn only when it changed. */
	function detailPart(path, draw) {
		var box = el("div");
		var last = null;

		function load() {
			var gen = S.gen;

			return api("GET", path).then(function (res) {
				var key = JSON.stringify(res) + "|" +
				    JSON.stringify(S.revealed);

				if (gen !== S.gen || key === last)
					return;
				last = key;
				clear(box);
				add(box, draw(res));
			});
		}
		return { node: box, load: load };
	}

	function dl(pairs) {
		var d = el("dl");

		pairs.forEach(function (p) {
			if (p)
				add(d, [el("dt", {}, p[0]), el("dd", {}, p[1])]);
		});
		return d;
	}

	function field(label, attrs) {
		return el("label", {}, label, el("input", Object.assign(
		    { type: "text", autocomplete: "off" }, attrs)));
	}

	/* A filter form: its values go into the view's #/ address. */
	function filterForm(view, params, fields) {
		var inputs = {};
		var f = el("form", { role: "search", "aria-label": "Filter",
		    onsubmit: function (ev) {
			var p = {};

			ev.preventDefault();
			Object.keys(inputs).forEach(function (k) {
				p[k] = inputs[k].value.trim();
			});
			location.hash = link("", view, null, p).getAttribute("href");
		    } });

		fields.forEach(function (fd) {
			var input;

			if (fd.options) {
				input = el("select", { name: fd.name },
				    fd.options.map(function (o) {
					return el("option", { value: o }, o || "any");
				    }));
				input.value = params.get(fd.name) || "";
			} else {
				input = el("input", { type: "text", name: fd.name,
				    autocomplete: "off", placeholder: fd.placeholder,
				    value: params.get(fd.name) || "" });
			}
			inputs[fd.name] = input;
			add(f, el("label", {}, fd.label, input));
		});
		add(f, el("button", { type: "submit" }, "Filter"));
		return f;
	}

	/*
	 * A button that asks for a second click before doing fn. The second
	 * click disarms it before fn runs (a third click asks again), and so
	 * does leaving it; a redraw makes a new, unarmed one.
	 */
	function dangerButton(label, fn) {
		var armed = false;
		var b = el("button", { type: "button", "class": "danger",
		    onclick: function () {
			if (!armed) {
				armed = true;
				b.textContent = "Click again to " +
				    label.toLowerCase();
				return;
			}
			disarm();
			fn();
		    } }, label);

		function disarm() {
			armed = false;
			b.textContent = label;
		}
		b.addEventListener("blur", disarm);
		return b;
	}

	/* ------------------------------------------------------ views */

	function viewClients() {
		var main = el("section", { "aria-labelledby": "h" });
		var list, created = el("div"), idIn, nameIn;

		add(main, el("h2", { id: "h" }, S.role === "admin" ? "Clients" :
		    "Your client"));
		if (S.role !== "admin")
			return ownClient(main);
		idIn = el("input", { type: "text", required: true,
		    autocomplete: "off", placeholder: "acme" });
		nameIn = el("input", { type: "text", autocomplete: "off",
		    placeholder: "Acme Store" });
		add(main, el("form", { "aria-label": "Create a client",
		    onsubmit: function (ev) {
			ev.preventDefault();
			act(function () {
				return api("POST", "/v1/clients", {
				    id: idIn.value.trim(),
				    name: nameIn.value.trim() || idIn.value.trim()
				}, about(idIn.value.trim())).then(function (c) {
					clear(created);
					add(created, el("div",
					    { "class": "secret-box" },
					    "Client ", el("b", {}, c.id),
					    " created. Its token, shown only now: ",
					    el("code", { id: "new-token" }, c.token),
					    "; its secret: ",
					    el("code", {}, c.secret)));
					return c;
				});
			}, "Client created.");
		    } },
		    el("label", {}, "Id", idIn), el("label", {}, "Name", nameIn),
		    el("button", { type: "submit" }, "Create client")));
		add(main, created);
		list = pagedTable("/v1/clients", {}, ["Id", "Name", "Created",
		    ""], function (c) {
			return el("tr", { "data-id": c.id },
			    el("td", { "class": "mono" }, c.id),
			    el("td", {}, c.name),
			    el("td", { "class": "mono" }, c.created_at),
			    el("td", { "class": "actions" },
			    link("Endpoints", "endpoints", null, { client: c.id }),
			    " ", link("Events", "events", null, { client: c.id }),
			    " ", link("Deliveries", "deliveries", null,
			    { client: c.id }), " ",
			    el("button", { type: "button", onclick: function () {
				rotateClient(c.id, "rotate-secret");
			    } }, "Rotate secret"),
			    dangerButton("Rotate token", function () {
				rotateClient(c.id, "rotate-token");
			    }),
			    dangerButton("Delete", function () {
				act(function () {
					return api("DELETE", "/v1/clients/" +
					    enc(c.id), undefined, about(c.id));
				}, "Client " + c.id + " deleted.");
			    })));
		}, "No clients yet.");
		add(main, list.node);
		return { node: main, refresh: list.load };
	}

	/* The admin rotates a client's secret or token (what: the route's
	 * last segment); the new value is shown once, above the list. */
	function rotateClient(id, what) {
		act(function () {
			return api("POST", "/v1/clients/" + enc(id) + "/" + what,
			    undefined, about(id));
		}, function (r) {
			return r.token ? ["Client " + id + "'s new token (the old " +
			    "one stopped): ", el("code", { "class": "new-token" },
			    r.token)] : ["Client " + id + "'s new secret (the " +
			    "previous one also signs for 24 h): ",
			    el("code", { "class": "new-secret" }, r.secret)];
		});
	}

	/* A client token's own client (its id from GET /v1/whoami). */
	function ownClient(main) {
		var part = detailPart("/v1/clients/" + enc(S.client), function (c) {
			return dl([["Id", el("span", { "class": "mono" }, c.id)],
			    ["Name", orNone(c.name)], ["Created", c.created_at],
			    ["Secret (one-off callbacks)",
			    secretCell(c.id, c.secret)]]);
		});

		add(main, part.node);
		return { node: main, refresh: part.load };
	}

	function secretCell(key, secret) {
		return el("span", {}, S.revealed[key] ?
		    el("code", { "class": "secret" }, secret) :
		    el("span", { "class": "muted secret-hidden" },
		    "hidden"), " ",
		    el("button", { type: "button", onclick: function () {
			if (S.revealed[key])
				delete S.revealed[key];
			else
				S.revealed[key] = true;
			refreshNow();
		    } }, S.revealed[key] ? "Hide secret" : "Reveal secret"));
	}

	function healthText(h) {
		if (!h)
			return "";
		return [el("span", {}, h.delivered_24h + " delivered, " +
		    h.failed_24h + " failed (24 h)"),
		    h.failing_since ? el("div", { "class": "muted" },
		    "failing since " + h.failing_since) : null];
	}

	function setEnabled(ep, on) {
		return act(function () {
			return api("PATCH", "/v1/endpoints/" + enc(ep.id),
			    { enabled: on });
		}, "Endpoint " + ep.id + (on ? " enabled." : " disabled."));
	}

	function sendTest(ep) {
		return act(function () {
			return api("POST", "/v1/endpoints/" + enc(ep.id) +
			    "/test");
		}, function (r) {
			return ["Test event ", link(r.id, "events", r.id),
			    " sent to " + ep.id + "."];
		});
	}

	function methodSelect(v) {
		var m = el("select", {}, el("option", { value: "POST" }, "POST"),
		    el("option", { value: "GET" }, "GET"));

		m.value = v;
		return m;
	}

	/* "order.paid, order.*" -> ["order.paid", "order.*"]. */
	function splitEvents(text) {
		return text.split(",").map(function (x) {
			return x.trim();
		}).filter(Boolean);
	}

	/*
	 * The headers textarea into body.headers: empty leaves it out (or,
	 * with clear, sends null: none), else it must be a JSON object; the
	 * API checks the names and values. 1, or 0 with the error shown.
	 */
	function headersInto(body, text, clear) {
		var h;

		text = text.trim();
		if (!text) {
			if (clear)
				body.headers = null;
			return 1;
		}
		try {
			h = JSON.parse(text);
		} catch (e) {
			h = null;
		}
		if (h === null || typeof h !== "object" || Array.isArray(h)) {
			showError("Headers must be a JSON object, such as " +
			    '{"X-Api-Key": "k"}');
			return 0;
		}
		body.headers = h;
		return 1;
	}

	function viewEndpoints(params) {
		var main = el("section", { "aria-labelledby": "h" });
		var client = params.get("client") || "";
		var list, urlIn, evIn, descIn, clientIn, methodIn, headIn;
		var filters = [];

		add(main, el("h2", { id: "h" }, "Endpoints"));
		if (S.role === "admin")
			filters.push({ name: "client", label: "Client" });
		if (filters.length)
			add(main, filterForm("endpoints", params, filters));
		clientIn = el("input", { type: "text", autocomplete: "off",
		    value: client, required: true });
		urlIn = el("input", { type: "url", autocomplete: "off",
		    required: true, size: 40,
		    placeholder: "http://127.0.0.1:9000/callback/{refId}" });
		evIn = el("input", { type: "text", autocomplete: "off",
		    placeholder: "order.paid, order.* (default *)" });
		descIn = el("input", { type: "text", autocomplete: "off" });
		methodIn = methodSelect("POST");
		headIn = el("textarea", { rows: 1, spellcheck: "false",
		    placeholder: '{"X-Api-Key": "..."}' });
		add(main, el("form", { "aria-label": "Add an endpoint",
		    onsubmit: function (ev) {
			var body = { url: urlIn.value.trim(),
			    method: methodIn.value };
			var evs = splitEvents(evIn.value);

			ev.preventDefault();
			if (!headersInto(body, headIn.value))
				return;
			if (S.role === "admin")
				body.client = clientIn.value.trim();
			if (evs.length)
				body.events = evs;
			if (descIn.value.trim())
				body.description = descIn.value.trim();
			clearError();
			api("POST", "/v1/endpoints", body, about(body.client))
			    .then(function (ep) {
				S.nextNotice = "Endpoint " + ep.id + " added.";
				location.hash = "#/endpoints/" + enc(ep.id);
			}, failed);
		    } },
		    S.role === "admin" ? el("label", {}, "Client", clientIn) :
		    null,
		    el("label", {}, "Callback URL", urlIn),
		    el("label", {}, "Method", methodIn),
		    el("label", {}, "Events (comma-separated)", evIn),
		    el("label", {}, "Description", descIn),
		    el("label", {}, "Headers (a JSON object)", headIn),
		    el("button", { type: "submit" }, "Add endpoint")));
		add(main, otherClientNote(params));
		list = pagedTable("/v1/endpoints", { client: client },
		    ["Id", "Client", "URL", "Events", "State", "Health", ""],
		    function (ep) {
			return el("tr", { "data-id": ep.id },
			    el("td", { "class": "mono" },
			    link(ep.id, "endpoints", ep.id)),
			    el("td", {}, ep.client),
			    el("td", { "class": "mono url" }, ep.method + " " +
			    ep.url),
			    el("td", { "class": "mono" }, ep.events.join(", ")),
			    el("td", {}, badge(ep.enabled ? "enabled" :
			    "disabled")),
			    el("td", {}, healthText(ep.health)),
			    el("td", { "class": "actions" },
			    el("button", { type: "button", onclick: function () {
				setEnabled(ep, !ep.enabled);
			    } }, ep.enabled ? "Disable" : "Enable"),
			    el("button", { type: "button", onclick: function () {
				sendTest(ep);
			    } }, "Test")));
		    }, "No endpoints.");
		add(main, list.node);
		return { node: main, refresh: list.load };
	}

	function viewEndpoint(id) {
		var main = el("section", { "aria-labelledby": "h" });
		var since = el("input", { type: "text", autocomplete: "off",
		    size: 26, value: new Date(Date.now() - 864e5).toISOString() });
		var cur = null, filled = false;
		var eUrl = el("input", { type: "url", autocomplete: "off",
		    required: true, size: 40 });
		var eMethod = methodSelect("POST");
		var eEvents = el("input", { type: "text", autocomplete: "off",
		    size: 24 });
		var eDesc = el("input", { type: "text", autocomplete: "off" });
		var eHead = el("textarea", { rows: 1, spellcheck: "false" });
		var toggle = el("button", { type: "button", onclick: function () {
			if (cur)
				setEnabled(cur, !cur.enabled);
		    } }, "Disable");
		var part = detailPart("/v1/endpoints/" + enc(id), function (ep) {
			cur = ep;
			/* The edit form is filled once: a refresh does not
			 * overwrite what is being typed. */
			if (!filled) {
				filled = true;
				eUrl.value = ep.url;
				eMethod.value = ep.method;
				eEvents.value = ep.events.join(", ");
				eDesc.value = ep.description || "";
				eHead.value = ep.headers ? JSON.stringify(ep.headers) :
				    "";
			}
			toggle.textContent = ep.enabled ? "Disable" : "Enable";
			return [dl([
			    ["Id", el("span", { "class": "mono" }, ep.id)],
			    ["Client", link(ep.client, "endpoints", null,
			    { client: ep.client })],
			    ["URL", el("span", { "class": "mono url" }, ep.url)],
			    ["Method", ep.method],
			    ["Events", el("span", { "class": "mono" },
			    ep.events.join(", "))],
			    ["State", badge(ep.enabled ? "enabled" : "disabled")],
			    ["Secret", secretCell(ep.id, ep.secret)],
			    ["Headers", ep.headers ? el("pre", {},
			    json(ep.headers)) : orNone(null)],
			    ["Description", orNone(ep.description)],
			    ["Rate limit", orGlobal(ep.rate_limit)],
			    ["Ordering", ep.ordering],
			    ["Retry schedule", ep.retry_schedule ?
			    ep.retry_schedule.join(" ") : orGlobal(null)],
			    ["Timeout", orGlobal(ep.timeout)],
			    ["Created", ep.created_at],
			    ["Updated", ep.updated_at]
			]), el("h3", {}, "Health"), dl([
			    ["Delivered (24 h)", String(ep.health.delivered_24h)],
			    ["Failed (24 h)", String(ep.health.failed_24h)],
			    ["Last success", orNone(ep.health.last_success_at)],
			    ["Last failure", orNone(ep.health.last_failure_at)],
			    ["Failing since", orNone(ep.health.failing_since)]
			])];
		});

		add(main, el("h2", { id: "h" }, "Endpoint ",
		    el("span", { "class": "mono" }, id)));
		add(main, el("div", { "class": "bar" }, toggle,
		    el("button", { type: "button", onclick: function () {
			sendTest({ id: id });
		    } }, "Test"),
		    el("button", { type: "button", onclick: function () {
			act(function () {
				return api("POST", "/v1/endpoints/" + enc(id) +
				    "/rotate-secret").then(function (r) {
					S.revealed[id] = true;
					return r;
				});
			}, "Secret rotated: deliveries carry signatures by " +
			    "the new and the previous secret for 24 h.");
		    } }, "Rotate secret"),
		    link("Deliveries", "deliveries", null, { endpoint: id }),
		    dangerButton("Delete", function () {
			api("DELETE", "/v1/endpoints/" + enc(id)).then(function () {
				S.nextNotice = "Endpoint " + id + " deleted.";
				location.hash = "#/endpoints";
			}, failed);
		    })));
		add(main, el("form", { "aria-label": "Replay failed deliveries",
		    onsubmit: function (ev) {
			ev.preventDefault();
			act(function () {
				return api("POST", "/v1/endpoints/" + enc(id) +
				    "/replay", { since: since.value.trim() });
			}, function (r) {
				return "Replay: " + r.requeued +
				    " failed deliveries queued again.";
			});
		    } }, el("label", {}, "Failed deliveries created since", since),
		    el("button", { type: "submit" }, "Replay")));
		add(main, el("form", { "aria-label": "Edit the endpoint",
		    onsubmit: function (ev) {
			var body = { url: eUrl.value.trim(), method: eMethod.value,
			    events: splitEvents(eEvents.value),
			    description: eDesc.value.trim() || null };

			ev.preventDefault();
			if (!body.events.length)
				body.events = ["*"];
			if (!headersInto(body, eHead.value, true))
				return;
			act(function () {
				return api("PATCH", "/v1/endpoints/" + enc(id), body);
			}, "Endpoint " + id + " saved.");
		    } }, el("label", {}, "URL", eUrl),
		    el("label", {}, "Method", eMethod),
		    el("label", {}, "Events (comma-separated)", eEvents),
		    el("label", {}, "Description", eDesc),
		    el("label", {}, "Headers (a JSON object)", eHead),
		    el("button", { type: "submit" }, "Save")));
		add(main, part.node);
		return { node: main, refresh: part.load };
	}

	function viewEvents(params) {
		var main = el("section", { "aria-labelledby": "h" });
		var filters = [];
		var list, cIn, tIn, dIn, uIn, delayIn, keyIn;

		add(main, el("h2", { id: "h" }, "Events"));
		if (S.role === "admin")
			filters.push({ name: "client", label: "Client" });
		filters.push({ name: "type", label: "Type",
		    placeholder: "order.paid" });
		add(main, filterForm("events", params, filters));
		if (S.role === "admin") {
			cIn = el("input", { type: "text", autocomplete: "off",
			    required: true, value: params.get("client") || "" });
			tIn = el("input", { type: "text", autocomplete: "off",
			    required: true, placeholder: "order.paid" });
			dIn = el("textarea", { rows: 2, spellcheck: "false" });
			dIn.value = "{}";
			uIn = el("input", { type: "url", autocomplete: "off",
			    size: 30, placeholder: "optional one-off URL" });
			delayIn = el("input", { type: "text", autocomplete: "off",
			    size: 8, placeholder: "15m" });
			keyIn = el("input", { type: "text", autocomplete: "off",
			    size: 16, placeholder: "optional" });
			add(main, el("form", { "aria-label": "Send an event",
			    onsubmit: function (ev) {
				/* data goes as typed: receivers get its bytes. */
				var body = '{"client": ' +
				    JSON.stringify(cIn.value.trim()) +
				    ', "type": ' + JSON.stringify(tIn.value.trim()) +
				    ', "data": ' + (dIn.value.trim() || "{}") +
				    (delayIn.value.trim() ? ', "delay": ' +
				    JSON.stringify(delayIn.value.trim()) : "") + "}";
				var key = keyIn.value.trim();

				ev.preventDefault();
				act(function () {
					return api("POST", "/v1/events" +
					    qs({ callbackURL: uIn.value.trim() }),
					    body, Object.assign({},
					    about(cIn.value.trim()), key ?
					    { "Idempotency-Key": key } : {}));
				}, function (r) {
					return ["Event ", link(r.id, "events", r.id),
					    " accepted: " + r.deliveries +
					    " deliveries."];
				});
			    } }, el("label", {}, "Client", cIn),
			    el("label", {}, "Type", tIn),
			    el("label", {}, "Data (a JSON object)", dIn),
			    el("label", {}, "callbackURL", uIn),
			    el("label", {}, "Delay", delayIn),
			    el("label", {}, "Idempotency-Key", keyIn),
			    el("button", { type: "submit" }, "Send event")));
		}
		add(main, otherClientNote(params));
		list = pagedTable("/v1/events", { client: params.get("client"),
		    type: params.get("type") },
		    ["Id", "Client", "Type", "Created", "Deliver at"],
		    function (e) {
			return el("tr", { "data-id": e.id },
			    el("td", { "class": "mono" },
			    link(e.id, "events", e.id)),
			    el("td", {}, e.client),
			    el("td", { "class": "mono event-type" }, e.type),
			    el("td", { "class": "mono" }, e.created_at),
			    el("td", { "class": "mono" }, orNone(e.deliver_at)));
		    }, "No events.");
		add(main, list.node);
		return { node: main, refresh: list.load };
	}

	function retry(d) {
		return act(function () {
			return api("POST", "/v1/deliveries/" + enc(d.id) +
			    "/retry");
		}, "Retry of " + d.id + " queued.");
	}

	var DLV_HEAD = ["Id", "Event", "Endpoint", "URL", "Status",
	    "Attempts", "Last", "Next attempt", ""];
	function deliveryRow(d) {
		var last = d.last ? (d.last.status !== null ?
		    "HTTP " + d.last.status : d.last.error) +
		    " at " + d.last.at : null;

		return el("tr", { "data-id": d.id },
		    el("td", { "class": "mono" }, link(d.id, "deliveries", d.id)),
		    el("td", { "class": "mono" }, link(d.event, "events", d.event)),
		    el("td", { "class": "mono" }, d.endpoint ?
		    link(d.endpoint, "endpoints", d.endpoint) : orNone(null)),
		    el("td", { "class": "mono url" }, orNone(d.url)),
		    el("td", { "class": "dlv-status" }, badge(d.status)),
		    el("td", {}, String(d.attempts)),
		    el("td", { "class": "mono" }, orNone(last)),
		    el("td", { "class": "mono" }, orNone(d.next_attempt_at)),
		    el("td", { "class": "actions" },
		    el("button", { type: "button", onclick: function () {
			retry(d);
		    } }, "Retry")));
	}

	function viewEvent(id) {
		var main = el("section", { "aria-labelledby": "h" });
		var part = detailPart("/v1/events/" + enc(id), function (e) {
			var body = el("tbody");

			e.deliveries.forEach(function (d) {
				add(body, deliveryRow(d));
			});
			return [dl([
			    ["Id", el("span", { "class": "mono" }, e.id)],
			    ["Client", e.client],
			    ["Type", el("span", { "class": "mono event-type" },
			    e.type)],
			    ["Created", e.created_at],
			    ["Deliver at", orNone(e.deliver_at)],
			    e.request ? ["Request", el("pre", {},
			    json(e.request))] : null,
			    ["Data", el("pre", { "class": "event-data" },
			    json(e.data))]
			]), el("h3", {}, "Deliveries"), e.deliveries.length ?
			    el("table", {}, el("thead", {}, el("tr", {},
			    DLV_HEAD.map(function (h) {
				return el("th", { scope: "col" }, h);
			    }))), body) :
			    el("p", { "class": "muted" }, "No deliveries.")];
		});

		add(main, el("h2", { id: "h" }, "Event ",
		    el("span", { "class": "mono" }, id)));
		add(main, part.node);
		return { node: main, refresh: part.load };
	}

	/*
	 * An address naming another client (a bookmark made with another
	 * token) opened with a client token: the list is the API's answer to
	 * it, empty, and this says why.
	 */
	function otherClientNote(params) {
		var c = params.get("client");

		if (S.role !== "client" || !c || c === S.client)
			return null;
		return el("p", { "class": "note other-client" }, "This address " +
		    "names client " + c + "; you are signed in as client " +
		    S.client + ", whose token sees only its own things, so " +
		    "nothing of " + c + " is listed.");
	}

	function viewDeliveries(params) {
		var main = el("section", { "aria-labelledby": "h" });
		var filters = [{ name: "status", label: "Status",
		    options: ["", "pending", "delivered", "failed"] },
		    { name: "endpoint", label: "Endpoint", placeholder: "ep_..." },
		    { name: "event", label: "Event", placeholder: "evt_..." }];
		var list;

		if (S.role === "admin")
			filters.push({ name: "client", label: "Client" });
		add(main, el("h2", { id: "h" }, "Deliveries"));
		add(main, filterForm("deliveries", params, filters));
		add(main, otherClientNote(params));
		list = pagedTable("/v1/deliveries", {
		    status: params.get("status"),
		    endpoint: params.get("endpoint"),
		    event: params.get("event"),
		    client: params.get("client")
		}, DLV_HEAD, deliveryRow, "No deliveries.");
		add(main, list.node);
		return { node: main, refresh: list.load };
	}

	/*
	 * The log keeps the first LOG_BODY bytes of a response body, and a
	 * 2xx body becomes the ack only up to ACK_MAX bytes (store.h); the
	 * delivery's JSON does not say whether a body was cut, so a body at
	 * the limit says it may have been.
	 */
	var LOG_BODY = 1024, ACK_MAX = 4096;
	function cutNote(body) {
		if (typeof body !== "string" ||
		    new TextEncoder().encode(body).length < LOG_BODY)
			return null;
		return el("div", { "class": "muted body-cut" }, "(the first " +
		    LOG_BODY + " bytes: the log keeps no more of a body)");
	}

	function viewDelivery(id) {
		var main = el("section", { "aria-labelledby": "h" });
		var part = detailPart("/v1/deliveries/" + enc(id), function (d) {
			var body = el("tbody");

			(d.log || []).forEach(function (a) {
				add(body, el("tr", {},
				    el("td", { "class": "mono" }, a.at),
				    el("td", {}, orNone(a.status)),
				    el("td", {}, orNone(a.error)),
				    el("td", {}, String(a.ms)),
				    el("td", {}, el("pre", { "class": "response-body" },
				    a.body), cutNote(a.body))));
			});
			return [dl([
			    ["Id", el("span", { "class": "mono" }, d.id)],
			    ["Event", link(d.event, "events", d.event)],
			    ["Endpoint", d.endpoint ? link(d.endpoint,
			    "endpoints", d.endpoint) : orNone(null)],
			    ["Client", d.client],
			    ["URL", el("span", { "class": "mono url" },
			    orNone(d.url))],
			    ["Status", badge(d.status)],
			    ["Attempts", String(d.attempts)],
			    ["Next attempt", orNone(d.next_attempt_at)],
			    ["Created", d.created_at],
			    ["Updated", d.updated_at],
			    ["Acknowledgement", d.ack !== null ? el("pre",
			    { "class": "ack" }, json(d.ack)) : d.status ===
			    "delivered" ? el("span", { "class": "muted ack-none" },
			    "none (kept only when the 2xx answer's body is a JSON " +
			    "object of up to " + ACK_MAX / 1024 + " KiB)") :
			    orNone(null)]
			]), el("h3", {}, "Attempts"), (d.log || []).length ?
			    el("table", {}, el("thead", {}, el("tr", {},
			    ["At", "Status", "Error", "ms", "Response body"]
			    .map(function (h) {
				return el("th", { scope: "col" }, h);
			    }))), body) :
			    el("p", { "class": "muted" }, "No attempts yet.")];
		});

		add(main, el("h2", { id: "h" }, "Delivery ",
		    el("span", { "class": "mono" }, id)));
		add(main, el("div", { "class": "bar" },
		    el("button", { type: "button", onclick: function () {
			retry({ id: id });
		    } }, "Retry")));
		add(main, part.node);
		return { node: main, refresh: part.load };
	}

	/* ----------------------------------------------- routing */

	var VIEWS = {
		clients: { list: viewClients },
		endpoints: { list: viewEndpoints, one: viewEndpoint },
		events: { list: viewEvents, one: viewEvent },
		deliveries: { list: viewDeliveries, one: viewDelivery }
	};

	/* "#/deliveries/dlv_1?status=failed" -> { name, id, params }. */
	function parseHash() {
		var h = location.hash.replace(/^#\/?/, "");
		var q = h.indexOf("?");
		var params = new URLSearchParams(q >= 0 ? h.slice(q + 1) : "");
		var parts = (q >= 0 ? h.slice(0, q) : h).split("/");
		var id = parts[1] ? decodeURIComponent(parts[1]) : null;

		return { name: VIEWS[parts[0]] ? parts[0] : "deliveries",
		    id: id, params: params };
	}

	function route() {
		var r, v, app = $("app");

		if (!S.token)
			return;
		r = parseHash();
		S.filterClient = S.role === "admin" && !S.shard &&
		    headerSafe(r.params.get("client")) ? r.params.get("client") :
		    null;
		S.gen++;
		S.busy = S.again = false;
		clearError();
		document.querySelectorAll("#nav a").forEach(function (a) {
			if (a.getAttribute("href") === "#/" + r.name)
				a.setAttribute("aria-current", "page");
			else
				a.removeAttribute("aria-current");
		});
		v = r.id && VIEWS[r.name].one ? VIEWS[r.name].one(r.id) :
		    VIEWS[r.name].list(r.params);
		S.view = v;
		clear(app);
		add(app, v.node);
		refreshNow();
	}

	function refreshNow() {
		var v = S.view, gen = S.gen;

		if (!v)
			return Promise.resolve();
		if (S.busy) {
			S.again = true;
			return Promise.resolve();
		}
		S.busy = true;
		S.again = false;
		return v.refresh().then(function () {
			if (S.errorFromRefresh)
				clearError();
		}, function (e) {
			if (gen !== S.gen)
				return;
			if (e && e.status === 401) {
				failed(e);
				return;
			}
			showError(e && e.status === 0 ? UNREACHABLE +
			    "; retrying every " + REFRESH_MS / 1000 + " s" :
			    e && e.message ? e.message : String(e), true);
		}).then(function () {
			if (gen !== S.gen)
				return;
			S.busy = false;
			if (S.again)
				refreshNow();
		});
	}

	function tick() {
		if (S.token && !document.hidden && $("auto").checked)
			refreshNow();
	}

	/* ------------------------------------------------ sign in */

	/*
	 * Which kind of token this is, and a client token's client id: GET
	 * /v1/whoami. A wrong token rejects with the API's 401 message.
	 */
	function signIn(token, client) {
		S.token = token;
		S.shard = client || null;
		S.filterClient = null;
		if (client && !headerSafe(client)) {
			S.token = S.shard = null;
			showSignIn();
			showError("Sign-in failed: the Client id \"" + client +
			    "\" cannot be sent as Hookd-Client (a client id is " +
			    "letters, digits, '.', '_' and '-')");
			return Promise.resolve();
		}
		return api("GET", "/v1/whoami").then(function (me) {
			sessionStorage.setItem(TOKEN_KEY, token);
			if (client)
				sessionStorage.setItem(CLIENT_KEY, client);
			S.role = me.role;
			S.client = me.client;
			$("who-text").textContent = (me.role === "admin" ?
			    "Signed in as admin" : "Signed in as client " +
			    me.client) + (client ? " (Hookd-Client " + client +
			    ")" : "");
			$("nav").hidden = false;
			$("who").hidden = false;
			notice(null);
			route();
		}, function (e) {
			if (e.status === 0) {
				/* hookd down (a restart, say): keep the token
				 * and ask again, as the views' refresh does. */
				showError("Sign-in: " + UNREACHABLE +
				    "; retrying every " + REFRESH_MS / 1000 + " s");
				setTimeout(function () {
					if (S.token === token && S.role === null)
						signIn(token, client);
				}, REFRESH_MS);
				return;
			}
			S.token = S.shard = null;
			sessionStorage.removeItem(TOKEN_KEY);
			sessionStorage.removeItem(CLIENT_KEY);
			showSignIn();
			showError("Sign-in failed: " + (e.apiMessage || e.message));
		});
	}

	function signOut() {
		sessionStorage.removeItem(TOKEN_KEY);
		sessionStorage.removeItem(CLIENT_KEY);
		S.token = S.role = S.client = S.view = null;
		S.shard = S.filterClient = null;
		S.revealed = {};
		S.gen++;
		notice(null);
		clearError();
		showSignIn();
	}

	function showSignIn() {
		var app = $("app");
		var tok = el("input", { type: "password", id: "token",
		    autocomplete: "off", required: true, size: 40 });
		var cid = el("input", { type: "text", id: "client-id",
		    autocomplete: "off", size: 20, placeholder: "optional" });

		$("nav").hidden = true;
		$("who").hidden = true;
		clear(app);
		/* No name on the input and no action: the token never goes
		 * into a URL, even if this handler failed to run. */
		add(app, el("section", { "aria-labelledby": "h" },
		    el("h2", { id: "h" }, "Sign in"),
		    el("form", { method: "post", "aria-label": "Sign in",
		    onsubmit: function (ev) {
			ev.preventDefault();
			clearError();
			signIn(tok.value.trim(), cid.value.trim());
		    } }, el("label", { "for": "token" },
		    "Admin or client token", tok),
		    el("label", { "for": "client-id" }, "Client id", cid),
		    el("button", { type: "submit" }, "Sign in")),
		    el("p", { "class": "muted" }, "The admin token is in ",
		    el("code", {}, "DATADIR/admin.token"), " (",
		    el("code", {}, "cat hookd-data/admin.token"), "; ",
		    el("code", {}, "dev-data/admin.token"), " under ",
		    el("code", {}, "make dev"), "). The " +
		    "token stays in this tab's sessionStorage until you sign " +
		    "out or close the tab."),
		    el("p", { "class": "muted" }, "Client id: only behind a " +
		    "proxy that shards clients over several hookd nodes (it " +
		    "is sent as Hookd-Client on every request); with a client " +
		    "token give its client's id. The admin opens a node " +
		    "directly, or filters by client.")));
		tok.focus();
	}

	function start() {
		var t = sessionStorage.getItem(TOKEN_KEY);
		var c = sessionStorage.getItem(CLIENT_KEY);

		$("signout").addEventListener("click", signOut);
		$("auto").addEventListener("change", tick);
		window.addEventListener("hashchange", function () {
			notice(S.nextNotice);
			S.nextNotice = null;
			route();
		});
		document.addEventListener("visibilitychange", tick);
		setInterval(tick, REFRESH_MS);
		if (t)
			signIn(t, c);
		else
			showSignIn();
	}

	start();
}());
