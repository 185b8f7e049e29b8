// Checks hookd's OpenAPI document for tests/integ/test_openapi.py:
//
//   node check.mjs DOC.json RECORDS.json
//
// DOC.json is the document as hookd served it; RECORDS.json a list of real
// answers: {method, path, status, ctype, body, headers} with path the
// document's path template (null when the path is in none), ctype the
// Content-Type (null when none), body the answer's text, headers lower-case.
// A record may name the schema that applies instead ("component": a JSON
// pointer into the document), for answers outside `paths` (the gateway's).
//
// It prints one JSON object: {"valid": the document is OpenAPI 3.1 by
// @seriousme/openapi-schema-validator, "errors": its errors, "checked": the
// records validated, "failures": [...]}. A record fails when its operation
// does not list its status, its Content-Type is not one the response lists,
// its body does not validate (ajv, JSON Schema 2020-12 with formats), a
// required header is missing or invalid, or when an object in a JSON answer
// still validates with a member added: every object hookd writes is closed
// (additionalProperties or unevaluatedProperties false), so that a member
// added to an answer fails here until the document names it. The objects
// whose members the producer, the receiver or the client chose (an event's
// "data", a delivery's "ack", an endpoint's "headers") are open.
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [docPath, recPath] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(docPath, "utf8"));
const records = JSON.parse(readFileSync(recPath, "utf8"));

const validator = new Validator();
const res = await validator.validate(structuredClone(doc));
const out = {
	valid: res.valid && validator.version === "3.1",
	version: validator.version,
	errors: res.valid ? [] : res.errors,
	checked: 0,
	failures: [],
};

// The document as a schema resource: the schemas' "#/components/..."
// references resolve inside it. Its other keywords (openapi, paths) are not
// JSON Schema, hence strict off; every schema compiled is reached by $ref.
const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
addFormats(ajv);
ajv.addSchema(doc, "doc");
const compiled = new Map();
function validatorAt(pointer) {
	if (!compiled.has(pointer))
		compiled.set(pointer, ajv.compile({ $ref: "doc" + pointer }));
	return compiled.get(pointer);
}

const esc = (s) => s.replace(/~/g, "~0").replace(/\//g, "~1");
function at(pointer) {
	let v = doc;
	for (const part of pointer.slice(2).split("/"))
		v = v?.[part.replace(/~1/g, "/").replace(/~0/g, "~")];
	return v;
}

// A response object and its pointer, following one $ref.
function response(pointer) {
	const r = at(pointer);
	if (r && r.$ref)
		return [at(r.$ref), r.$ref];
	return [r, pointer];
}

// The objects of a JSON value with their JSON paths, but those whose
// members others choose.
const OPEN = new Set(["data", "ack", "headers"]);
function objects(v, path, acc) {
	if (Array.isArray(v)) {
		v.forEach((x, i) => objects(x, path + "/" + i, acc));
	} else if (v !== null && typeof v === "object") {
		acc.push(path);
		for (const [k, x] of Object.entries(v)) {
			if (OPEN.has(k) && x !== null && typeof x === "object" && !Array.isArray(x))
				continue;
			objects(x, path + "/" + esc(k), acc);
		}
	}
	return acc;
}

function withMember(v, path) {
	const copy = structuredClone(v);
	let o = copy;
	for (const part of path.split("/").slice(1))
		o = o[part.replace(/~1/g, "/").replace(/~0/g, "~")];
	o.undocumented_member_x = 1;
	return copy;
}

function checkBody(rec, schemaPtr, fail) {
	const validate = validatorAt(schemaPtr);
	let body = rec.body;
	const json = /^application\/json/.test(rec.ctype || "");
	if (json) {
		try {
			body = JSON.parse(rec.body);
		} catch (e) {
			return fail("body is not JSON: " + e.message);
		}
	}
	if (!validate(body))
		return fail("body does not match " + schemaPtr + ": " +
		    ajv.errorsText(validate.errors, { separator: "; " }));
	if (!json || rec.path === "/openapi.json")
		return;
	for (const p of objects(body, "", [])) {
		if (validate(withMember(body, p)))
			fail("the object at " + (p || "/") + " stays valid with a " +
			    "member added: its schema is not closed (" + schemaPtr + ")");
	}
}

function checkRecord(rec) {
	const where = `${rec.method} ${rec.path ?? rec.target} ${rec.status}`;
	const fail = (msg) => out.failures.push(where + ": " + msg);
	let rptr;
	if (rec.component) {
		checkBody(rec, rec.component, fail);
		return;
	}
	const op = rec.path != null ? at(`#/paths/${esc(rec.path)}/${rec.method.toLowerCase()}`) : null;
	if (op) {
		rptr = `#/paths/${esc(rec.path)}/${rec.method.toLowerCase()}/responses/${rec.status}`;
		if (at(rptr) === undefined)
			return fail("the operation does not list this status");
	} else if (rec.status === 405 && rec.path != null) {
		rptr = "#/components/responses/MethodNotAllowed";
	} else if (rec.status === 404 && rec.path == null) {
		rptr = "#/components/responses/NotFound";
	} else {
		return fail("no operation in the document");
	}
	const [r, ptr] = response(rptr);
	for (const [name, h] of Object.entries(r.headers || {})) {
		const v = rec.headers[name.toLowerCase()];
		if (v === undefined) {
			if (h.required)
				fail("header " + name + " is missing");
			continue;
		}
		const hv = validatorAt(`${ptr}/headers/${esc(name)}/schema`);
		const typed = /^[0-9]+$/.test(v) ? Number(v) : v;
		if (!hv(typed))
			fail("header " + name + ": " + ajv.errorsText(hv.errors));
	}
	if (!r.content) {
		if (rec.ctype != null || rec.body !== "")
			fail("the document lists no body, the answer has one");
		return;
	}
	if (rec.ctype == null || !(rec.ctype in r.content))
		return fail("Content-Type " + rec.ctype + " is not one of " +
		    Object.keys(r.content).join(", "));
	if (r.content[rec.ctype].schema)
		checkBody(rec, `${ptr}/content/${esc(rec.ctype)}/schema`, fail);
}

for (const rec of records) {
	out.checked++;
	try {
		checkRecord(rec);
	} catch (e) {
		out.failures.push(`${rec.method} ${rec.path} ${rec.status}: ${e.stack}`);
	}
}
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
