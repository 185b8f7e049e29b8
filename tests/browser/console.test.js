/*
 * The console in a real browser: Debian's chromium driven by playwright-core.
 * Run by tests/integ/test_console.py, which starts hookd and the receivers
 * and passes, by environment: HOOKD_URL, ADMIN_TOKEN, CLIENT_TOKEN (client
 * acme), OTHER_TOKEN (client other), EP_FLAKY and EP_REPLAY (acme's
 * endpoints: 500 twice, then 200), EP_OTHER and EVT_OTHER (other's),
 * EVT_XSS and DLV_XSS (an acme event whose type, response body and ack hold
 * markup: XSS_TYPE, XSS_BODY, XSS_ACK_NOTE), DLV_BIG (a delivery whose
 * 500 body was 2 KiB and whose 200 body a 5 KiB JSON object), EMPTY_TOKEN
 * (client empty, which has nothing), CHROMIUM and SCREENSHOT.
 *
 * Prints "ok ..." per check and "all console checks passed" at the end;
 * exits 1 with the reason on the first failure. No fixed sleeps: every
 * wait is Playwright's auto-waiting or waitForFunction with a deadline.
 */
"use strict";

const { chromium } = require("playwright-core");

const E = process.env;
const BASE = E.HOOKD_URL;
const WAIT = 20000;	/* ms: generous, a slow machine only waits longer */
const CSP = "default-src 'self'; frame-ancestors 'none'";

function need(cond, what) {
	if (!cond)
		throw new Error("check failed: " + what);
	console.log("ok " + what);
}

/* The API, straight (the test's own view of what the console shows). */
async function api(token, method, path, body) {
	const r = await fetch(BASE + path, {
		method,
		headers: Object.assign({ Authorization: "Bearer " + token },
		    body ? { "Content-Type": "application/json" } : {}),
		body: body ? JSON.stringify(body) : undefined
	});
	const text = await r.text();
	return { status: r.status, data: text ? JSON.parse(text) : null };
}

async function main() {
	const browser = await chromium.launch({
		executablePath: E.CHROMIUM,
		headless: true,
		/* Root in CI: chromium's sandbox needs an unprivileged user. */
		args: ["--no-sandbox"]
	});
	const problems = [];
	const requests = [];	/* "METHOD path?query" of every /v1 request */
	const routed = [];	/* [request, its Hookd-Client or null] */
	let dialogs = 0;
	let offline = false;	/* while the test cuts hookd off */

	try {
		const ctx = await browser.newContext({
		    viewport: { width: 1360, height: 560 } });
		const page = await ctx.newPage();
		page.setDefaultTimeout(WAIT);
		page.on("dialog", (d) => {
			dialogs++;
			problems.push("a dialog opened: " + d.message());
			d.dismiss().catch(() => {});
		});
		page.on("pageerror", (e) => problems.push("page error: " + e));
		page.on("request", (r) => {
			const u = new URL(r.url());
			if (u.pathname.startsWith("/v1/")) {
				requests.push(r.method() + " " + u.pathname + u.search);
				routed.push([r.method() + " " + u.pathname + u.search,
				    r.headers()["hookd-client"] || null]);
			}
		});
		page.on("response", (r) => {
			const u = new URL(r.url());
			if (!u.pathname.startsWith("/v1/") && r.status() !== 200)
				problems.push(r.status() + " for " + u.pathname);
		});
		page.on("console", (m) => {
			const t = m.text();
			if (/Content Security Policy|Content-Security-Policy/i.test(t))
				problems.push("CSP violation: " + t);
			else if (/xss/i.test(t))
				problems.push("script from data ran: " + t);
			else if (m.type() === "error" &&
			    !/status of (4|5)\d\d/.test(t) &&
			    !(offline && /net::ERR_FAILED/.test(t)))
				problems.push("console error: " + t);
		});

		/* The page and its CSP. */
		const resp = await page.goto(BASE + "/console");
		need(resp.status() === 200, "GET /console answers 200");
		need((await resp.headerValue("content-security-policy")) === CSP,
		    "the console is served with " + CSP);

		/* The sign-in page shows no header controls. */
		await page.getByLabel("Admin or client token").waitFor();
		need(await page.locator("#nav").isHidden() &&
		    await page.locator("#signout").isHidden() &&
		    await page.locator("#auto").isHidden(),
		    "the sign-in page hides the views, refresh and Sign out");

		/* A wrong token: the API's 401 message, nothing kept. */
		await page.getByLabel("Admin or client token").fill("nope");
		await page.getByRole("button", { name: "Sign in" }).click();
		await page.locator("#error", { hasText: "unknown token" }).waitFor();
		need(await page.evaluate(() => sessionStorage.length === 0 &&
		    localStorage.length === 0),
		    "a wrong token shows the 401 message and is not kept");

		/* Sign in as the admin. */
		await page.getByLabel("Admin or client token").fill(E.ADMIN_TOKEN);
		requests.length = 0;
		await page.getByRole("button", { name: "Sign in" }).click();
		await page.locator("#who-text", { hasText: "admin" }).waitFor();
		await page.locator("main table, main p.muted").first().waitFor();
		need(requests[0] === "GET /v1/whoami" && requests.filter((r) =>
		    r === "GET /v1/whoami").length === 1 &&
		    !requests.some((r) => /limit=1$/.test(r)),
		    "sign-in asks GET /v1/whoami once, then the view: " +
		    requests.join(", "));
		need(await page.locator("#nav").isVisible() &&
		    await page.locator("#signout").isVisible(),
		    "signed in, the header controls show");
		need(await page.evaluate((t) => sessionStorage.getItem(
		    "hookd.token") === t && localStorage.length === 0 &&
		    !location.href.includes(t), E.ADMIN_TOKEN),
		    "signed in as admin; the token is in sessionStorage only");

		/* A delivery fails (500 twice), then Retry delivers it. */
		await page.goto(BASE + "/console#/events");
		const send = page.getByRole("form", { name: "Send an event" });
		await send.getByLabel("Client").fill("acme");
		await send.getByLabel("Type").fill("order.paid");
		await send.getByLabel("Data (a JSON object)").fill(
		    '{"refId": "3283191"}');
		await send.getByRole("button", { name: "Send event" }).click();
		await page.locator("#notice", { hasText: "accepted: 1 deliveries" })
		    .waitFor();
		need(true, "an event sent from the console's form");
		await page.goto(BASE + "/console#/deliveries?endpoint=" +
		    E.EP_FLAKY);
		const flakyRow = page.locator("tbody tr").first();
		await flakyRow.locator(".status-failed").waitFor();
		need(true, "the delivery to the 500 receiver shows failed " +
		    "(refreshed by the page itself)");
		const dlvFlaky = await flakyRow.getAttribute("data-id");
		await flakyRow.getByRole("button", { name: "Retry" }).click();
		await page.locator("#notice", { hasText: "Retry of " + dlvFlaky })
		    .waitFor();
		await flakyRow.locator(".status-delivered").waitFor();
		need(true, "after Retry the delivery shows delivered");

		/* Screenshot: all deliveries, one failed and several delivered. */
		need(routed.some((x) => x[0] === "POST /v1/events" &&
		    x[1] === "acme") && routed.every((x) => x[1] === null ||
		    x[0] === "POST /v1/events"), "the admin without a client " +
		    "filter sends Hookd-Client only with the event it sends, " +
		    "its client's: " + JSON.stringify(routed));
		routed.length = 0;
		await page.goto(BASE + "/console#/deliveries?client=acme");
		await page.locator("tbody .status-delivered").first().waitFor();
		need(routed.some((x) => /^GET \/v1\/deliveries\?/.test(x[0])) &&
		    routed.every((x) => x[1] === "acme"),
		    "the admin's client filter acme goes as Hookd-Client: " +
		    JSON.stringify(routed));
		await page.locator("tbody .status-failed").first().waitFor();
		await page.screenshot({ path: E.SCREENSHOT });
		need(true, "screenshot written to " + E.SCREENSHOT);

		/* Its attempt log: 500, 500, 200 with the ack. */
		await page.goto(BASE + "/console#/deliveries/" + dlvFlaky);
		await page.locator("pre.ack", { hasText: "3283191" }).waitFor();
		need(await page.locator("pre.response-body").count() === 3,
		    "the delivery's log shows its 3 attempts and the ack");

		/* Replay the failed deliveries of the replay endpoint. */
		await page.goto(BASE + "/console#/endpoints/" + E.EP_REPLAY);
		await page.getByRole("button", { name: "Replay" }).click();
		await page.locator("#notice", { hasText: "Replay: 1 failed" })
		    .waitFor();
		await page.goto(BASE + "/console#/deliveries?endpoint=" +
		    E.EP_REPLAY);
		await page.locator("tbody tr .status-delivered").waitFor();
		need(true, "Replay requeued the failed delivery and it was " +
		    "delivered");

		/* Reveal, then rotate the flaky endpoint's secret. */
		await page.goto(BASE + "/console#/endpoints/" + E.EP_FLAKY);
		await page.locator(".secret-hidden").waitFor();
		need(await page.locator("code.secret").count() === 0,
		    "the secret is hidden until asked for");
		await page.getByRole("button", { name: "Reveal secret" }).click();
		const before = await page.locator("code.secret").textContent();
		const ep1 = await api(E.ADMIN_TOKEN, "GET", "/v1/endpoints/" +
		    E.EP_FLAKY);
		need(before === ep1.data.secret, "Reveal shows the secret");
		await page.getByRole("button", { name: "Rotate secret" }).click();
		await page.waitForFunction((old) => {
			const c = document.querySelector("code.secret");
			return c && c.textContent !== old;
		}, before, { timeout: WAIT });
		const after = await page.locator("code.secret").textContent();
		const ep2 = await api(E.ADMIN_TOKEN, "GET", "/v1/endpoints/" +
		    E.EP_FLAKY);
		need(after === ep2.data.secret && after !== before,
		    "Rotate secret shows the new secret");

		/* Disable, enable and test from the endpoints list. */
		await page.goto(BASE + "/console#/endpoints?client=other");
		const otherRow = page.locator("tr[data-id='" + E.EP_OTHER + "']");
		await otherRow.getByRole("button", { name: "Disable" }).click();
		await otherRow.locator(".status-disabled").waitFor();
		await otherRow.getByRole("button", { name: "Enable" }).click();
		await otherRow.locator(".status-enabled").waitFor();
		await otherRow.getByRole("button", { name: "Test" }).click();
		await page.locator("#notice", { hasText: "Test event" }).waitFor();
		need(true, "disable, enable and test an endpoint");

		/* Edit an endpoint on its page. */
		await page.goto(BASE + "/console#/endpoints/" + E.EP_OTHER);
		const edit = page.getByRole("form", { name: "Edit the endpoint" });
		await page.locator("dd .secret-hidden").waitFor();
		await edit.getByLabel("Events (comma-separated)").fill(
		    "order.paid, order.shipped");
		await edit.getByLabel("Description").fill("edited in the console");
		await edit.getByLabel("Headers (a JSON object)").fill(
		    '{"X-Api-Key": "k1"}');
		await edit.getByRole("button", { name: "Save" }).click();
		await page.locator("dd", { hasText: "edited in the console" })
		    .waitFor();
		const edited = (await api(E.ADMIN_TOKEN, "GET", "/v1/endpoints/" +
		    E.EP_OTHER)).data;
		need(edited.events.join() === "order.paid,order.shipped" &&
		    edited.headers["X-Api-Key"] === "k1",
		    "Save on the endpoint's page PATCHes events, description " +
		    "and headers");

		/* Add an endpoint with a method and headers. */
		await page.goto(BASE + "/console#/endpoints?client=other");
		const addEp = page.getByRole("form", { name: "Add an endpoint" });
		await addEp.getByLabel("Callback URL").fill(
		    "http://127.0.0.1:9/added");
		await addEp.getByLabel("Method").selectOption("GET");
		await addEp.getByLabel("Headers (a JSON object)").fill(
		    '{"X-Tenant": "t1"}');
		await addEp.getByRole("button", { name: "Add endpoint" }).click();
		await page.locator("#notice", { hasText: "added" }).waitFor();
		const addedId = decodeURIComponent(new URL(page.url()).hash
		    .replace("#/endpoints/", ""));
		const added = (await api(E.ADMIN_TOKEN, "GET", "/v1/endpoints/" +
		    addedId)).data;
		need(added.method === "GET" && added.headers["X-Tenant"] === "t1" &&
		    added.client === "other",
		    "Add endpoint sends the method and headers");

		/* Send an event with a delay and an Idempotency-Key, twice. */
		await page.goto(BASE + "/console#/events");
		const ev2 = page.getByRole("form", { name: "Send an event" });
		await ev2.getByLabel("Client").fill("other");
		await ev2.getByLabel("Type").fill("order.later");
		await ev2.getByLabel("Delay").fill("1h");
		await ev2.getByLabel("Idempotency-Key").fill("console-key-1");
		const sentIds = [];
		for (let i = 0; i < 2; i++) {
			await page.evaluate(() => {
				document.getElementById("notice").hidden = true;
			});
			await ev2.getByRole("button", { name: "Send event" }).click();
			const n = page.locator("#notice", { hasText: "accepted" });
			await n.waitFor();
			sentIds.push((await n.textContent()).match(/evt_\w+/)[0]);
		}
		const later = (await api(E.ADMIN_TOKEN, "GET", "/v1/events/" +
		    sentIds[0])).data;
		need(sentIds[0] === sentIds[1] && later.deliver_at !== null,
		    "Send event with Delay and Idempotency-Key: one event, " +
		    "delivered later");

		/* Rotate a client's secret and token (admin). */
		await page.goto(BASE + "/console#/clients");
		const emptyRow = page.locator("tr[data-id='empty']");
		await emptyRow.getByRole("button", { name: "Rotate secret" })
		    .click();
		const newSecret = await page.locator("#notice code.new-secret")
		    .textContent();
		need((await api(E.ADMIN_TOKEN, "GET", "/v1/clients/empty")).data
		    .secret === newSecret, "Rotate secret shows the new secret");
		await emptyRow.getByRole("button", { name: "Rotate token" }).click();
		await emptyRow.getByRole("button",
		    { name: "Click again to rotate token" }).click();
		E.EMPTY_TOKEN2 = await page.locator("#notice code.new-token")
		    .textContent();
		need(await emptyRow.getByRole("button", { name: "Rotate token",
		    exact: true }).count() === 1 && await emptyRow.getByRole(
		    "button", { name: "Click again to rotate token" }).count() ===
		    0, "after the rotation the button reads Rotate token again " +
		    "(disarmed)");
		need((await api(E.EMPTY_TOKEN, "GET", "/v1/whoami")).status ===
		    401 && (await api(E.EMPTY_TOKEN2, "GET", "/v1/whoami")).data
		    .client === "empty", "Rotate token shows the new token; " +
		    "the old one stopped");

		/*
		 * Auto-refresh keeps every row "More" loaded. Pages of 2 rows
		 * (sessionStorage hookd.pageSize, which also caps a refresh's
		 * ?limit=, standing in for 25 and 1000): load all events, then
		 * a new event (newest first: at the top) must show with every
		 * row still there.
		 */
		await page.evaluate(() => sessionStorage.setItem(
		    "hookd.pageSize", "2"));
		await page.goto(BASE + "/console#/events");
		await page.reload();
		await page.locator("tbody tr").first().waitFor();
		const total = (await api(E.ADMIN_TOKEN, "GET",
		    "/v1/events?limit=1000")).data.data.length;
		need(total > 4, total + " events: more than two pages of 2");
		for (;;) {
			const n = await page.locator("tbody tr").count();
			const more = page.getByRole("button", { name: "More" });
			if (n >= total || !(await more.isVisible()))
				break;
			await more.click();
			await page.waitForFunction((k) => document.querySelectorAll(
			    "tbody tr").length > k, n, { timeout: WAIT });
		}
		need(await page.locator("tbody tr").count() === total,
		    "More loaded all " + total + " events, 2 at a time");
		const fresh = await api(E.ADMIN_TOKEN, "POST", "/v1/events",
		    { client: "other", type: "order.fresh", data: {} });
		await page.waitForFunction(([id, k]) => {
			const rows = document.querySelectorAll("tbody tr");
			return rows.length === k && rows[0].dataset.id === id;
		}, [fresh.data.id, total + 1], { timeout: WAIT });
		need(await page.getByRole("button", { name: "More" }).count() === 0,
		    "a refresh brought the new event in and kept all " + total +
		    " loaded rows (no More)");

		/*
		 * Deliveries are oldest-first: new ones land past the last
		 * row. With every row loaded (no More), a refresh follows
		 * "next" to the end again and shows them.
		 */
		await page.goto(BASE + "/console#/deliveries?client=other");
		await page.locator("tbody tr").first().waitFor();
		const dTotal = (await api(E.ADMIN_TOKEN, "GET",
		    "/v1/deliveries?client=other&limit=1000")).data.data.length;
		for (;;) {
			const n = await page.locator("tbody tr").count();
			const more = page.getByRole("button", { name: "More" });
			if (n >= dTotal || !(await more.isVisible()))
				break;
			await more.click();
			await page.waitForFunction((k) => document.querySelectorAll(
			    "tbody tr").length > k, n, { timeout: WAIT });
		}
		need(await page.locator("tbody tr").count() === dTotal,
		    "More loaded all " + dTotal + " deliveries of other");
		/* Two new rows: past the last one whatever the page split, and
		 * within the MAX_LIMIT (here 2) a refresh reads past the count. */
		let newDlv = 0;
		while (newDlv < 2) {
			const r = await api(E.ADMIN_TOKEN, "POST", "/v1/events",
			    { client: "other", type: "order.paid", data: {} });
			need(r.status === 202 && r.data.deliveries > 0,
			    "an event for other with deliveries");
			newDlv += r.data.deliveries;
		}
		await page.waitForFunction((k) => document.querySelectorAll(
		    "tbody tr").length === k, dTotal + newDlv, { timeout: WAIT });
		need(true, "a refresh showed the " + newDlv + " new deliveries " +
		    "past the last row");
		await page.evaluate(() => sessionStorage.removeItem(
		    "hookd.pageSize"));
		await page.reload();

		/* hookd unreachable: a plain message, and the page retries. */
		offline = true;
		await page.route("**/v1/**", (r) => r.abort("failed"));
		await page.locator("#error", { hasText: "hookd is not reachable " +
		    "(it may be restarting); retrying" }).waitFor();
		await page.unroute("**/v1/**");
		await page.locator("#error").waitFor({ state: "hidden" });
		offline = false;
		need(true, "hookd unreachable says so, and the page recovers " +
		    "by itself");

		/* An endpoint without its own policy shows the global one's. */
		await page.goto(BASE + "/console#/endpoints/" + E.EP_REPLAY);
		await page.locator(".policy-global").first().waitFor();
		need(await page.locator(".policy-global").count() === 3,
		    "rate limit, retry schedule and timeout say global default");

		/* Bodies past what is kept say so. */
		await page.goto(BASE + "/console#/deliveries/" + E.DLV_BIG);
		await page.locator(".body-cut").first().waitFor();
		need(await page.locator(".body-cut").count() === 2,
		    "both bodies (2 KiB, 5 KiB) say the log keeps 1024 bytes");
		need((await page.locator(".ack-none").textContent()).includes(
		    "up to 4 KiB"), "the 5 KiB JSON answer says why no ack " +
		    "was kept");

		/* XSS: the event type, response body and ack show as text. */
		await page.goto(BASE + "/console#/events?client=acme");
		const typeCell = page.locator("tr[data-id='" + E.EVT_XSS +
		    "'] .event-type");
		await typeCell.waitFor();
		need(await typeCell.textContent() === E.XSS_TYPE,
		    "the event type shows as its exact characters in the list");
		await page.goto(BASE + "/console#/events/" + E.EVT_XSS);
		await page.locator("dd .event-type").waitFor();
		need(await page.locator("dd .event-type").textContent() ===
		    E.XSS_TYPE, "... and in the event's page");
		await page.goto(BASE + "/console#/deliveries/" + E.DLV_XSS);
		await page.locator("pre.ack").waitFor();
		const bodies = await page.locator("pre.response-body")
		    .allTextContents();
		need(bodies.includes(E.XSS_BODY),
		    "the response body shows as its exact characters");
		need((await page.locator("pre.ack").textContent())
		    .includes(E.XSS_ACK_NOTE),
		    "the ack shows as its exact characters");
		need(await page.evaluate(() => document.querySelectorAll(
		    "img, main script, main iframe").length === 0 &&
		    window.__xss_type === undefined &&
		    window.__xss_ack === undefined &&
		    window.__xss_body === undefined),
		    "no element and no script came from the data");

		/* A client token sees only its own client. */
		await page.getByRole("button", { name: "Sign out" }).click();
		need(await page.evaluate(() => sessionStorage.length === 0),
		    "Sign out clears the token");

		/* Behind a sharding proxy: the Client id given at sign-in goes
		 * as Hookd-Client on every request; hookd refuses one that is
		 * not the token's client. */
		await page.getByLabel("Admin or client token").fill(E.CLIENT_TOKEN);
		await page.getByLabel("Client id").fill("other");
		await page.getByRole("button", { name: "Sign in" }).click();
		await page.locator("#error", { hasText: "Hookd-Client" }).waitFor();
		need(true, "a Client id other than the token's client is " +
		    "refused at sign-in with hookd's Hookd-Client message");
		routed.length = 0;
		await page.getByLabel("Admin or client token").fill(E.CLIENT_TOKEN);
		await page.getByLabel("Client id").fill("acme");
		await page.getByRole("button", { name: "Sign in" }).click();
		await page.locator("#who-text", { hasText: "client acme" }).waitFor();
		await page.goto(BASE + "/console#/endpoints");
		await page.locator("tr[data-id='" + E.EP_FLAKY + "']").waitFor();
		need(routed.length >= 2 && routed.every((x) => x[1] === "acme"),
		    "with Client id acme every request sends Hookd-Client: " +
		    "acme: " + JSON.stringify(routed));
		await page.getByRole("button", { name: "Sign out" }).click();
		need(await page.evaluate(() => sessionStorage.length === 0),
		    "Sign out clears the token and the Client id");
		await page.getByLabel("Admin or client token").fill(E.CLIENT_TOKEN);
		await page.getByRole("button", { name: "Sign in" }).click();
		await page.locator("#who-text", { hasText: "client acme" }).waitFor();
		for (const [view, id] of [["endpoints", E.EP_FLAKY],
		    ["events", E.EVT_XSS], ["deliveries", dlvFlaky]]) {
			await page.goto(BASE + "/console#/" + view);
			await page.locator("tr[data-id='" + id + "']").waitFor();
			const text = await page.locator("main").textContent();
			const cells = await page.locator("main td")
			    .allTextContents();
			need(!text.includes(E.EP_OTHER) &&
			    !text.includes(E.EVT_OTHER) && !cells.includes("other"),
			    "client acme's " + view + " show its own and none of " +
			    "client other's");
		}
		await page.goto(BASE + "/console#/clients");
		await page.locator("dd", { hasText: "Acme Store" }).waitFor();
		need(!(await page.locator("main").textContent()).includes("Other Co"),
		    "client acme's client page shows its own client only");
		await page.goto(BASE + "/console#/deliveries?client=other");
		await page.locator(".other-client").waitFor();
		await page.locator("main p.muted", { hasText: "No deliveries." })
		    .waitFor();
		need(true, "a bookmark naming client other shows acme's token " +
		    "nothing, and says why");
		await page.goto(BASE + "/console#/endpoints/" + E.EP_OTHER);
		await page.locator("#error", { hasText: "404" }).waitFor();
		need(true, "another client's endpoint answers the API's 404");

		/* A client with nothing yet still learns its id. */
		await page.getByRole("button", { name: "Sign out" }).click();
		await page.getByLabel("Admin or client token").fill(E.EMPTY_TOKEN2);
		await page.getByRole("button", { name: "Sign in" }).click();
		await page.locator("#who-text", { hasText: "client empty" })
		    .waitFor();
		await page.goto(BASE + "/console#/clients");
		await page.locator("dd", { hasText: "Empty Ltd" }).waitFor();
		need(true, "client empty (no endpoints, events or deliveries) " +
		    "is named and its client page shows");

		need(dialogs === 0, "no dialog opened");
		need(problems.length === 0, "no CSP violation, page error or " +
		    "console error" + (problems.length ? ": " +
		    problems.join("; ") : ""));
		console.log("all console checks passed");
	} finally {
		await browser.close();
	}
}

main().catch((e) => {
	console.error(e && e.stack ? e.stack : String(e));
	process.exit(1);
});
