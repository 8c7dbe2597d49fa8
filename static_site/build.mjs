// Builds static_site/src/ into static_site/dist/, the files synced to the bucket.
//
// Every asset gets its content hash in its name so that it can be cached for
// a year; pages, sw.js, the web manifest and config.json keep stable names and
// are revalidated on every visit. No network: everything comes from src/ and
// node_modules/@uswds/uswds (installed by `npm ci`).
//
// Output:
//   dist/*.html                 pages, with the shared header and footer included
//   dist/assets/NAME.HASH.EXT   CSS, ES modules, catalogs, fonts, images
//   dist/sw.js                  service worker: precache list + version
//   dist/manifest.webmanifest   installable app manifest
//   dist/build.json             what was built, for tests and the deploy script

import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SRC = path.join(HERE, "src");
const DIST = path.join(HERE, "dist");
const ASSETS = path.join(DIST, "assets");
const USWDS = path.join(HERE, "node_modules", "@uswds", "uswds", "dist");

// Only Source Sans Pro ships: headings fall back to Georgia and code to the
// system monospace, which keeps the first visit well under its byte budget.
const KEPT_FONT_FAMILIES = ["Source Sans Pro Web"];
// Fonts every page renders with: precached and preloaded. Other weights are
// fetched (and cached by the service worker) only if a page ever uses them.
const CORE_FONTS = [
  "fonts/source-sans-pro/sourcesanspro-regular-webfont.woff2",
  "fonts/source-sans-pro/sourcesanspro-bold-webfont.woff2",
];

// Ten hex digits, at least one a letter: the deploy script (pbctl/sitesync.py)
// tells fingerprinted names by a hash that is not all digits.
function hash(bytes) {
  const hex = createHash("sha256").update(bytes).digest("hex");
  for (let i = 0; i + 10 <= hex.length; i++) {
    const window = hex.slice(i, i + 10);
    if (/[a-f]/.test(window)) return window;
  }
  return hex.slice(0, 9) + "a";
}

/** Copies bytes into dist/assets under a hashed name; returns "assets/NAME". */
function emit(logicalName, bytes) {
  const ext = path.extname(logicalName);
  const base = logicalName.slice(0, -ext.length).replaceAll("/", "-");
  const name = `${base}.${hash(bytes)}${ext}`;
  fs.writeFileSync(path.join(ASSETS, name), bytes);
  return `assets/${name}`;
}

/** The USWDS stylesheet, trimmed of unshipped fonts, its url()s fingerprinted. */
function buildUswdsCss() {
  let css = fs.readFileSync(path.join(USWDS, "css", "uswds.min.css"), "utf8");
  css = css.replace(/@font-face\{[^}]*\}/g, (rule) =>
    KEPT_FONT_FAMILIES.some((family) => rule.includes(`"${family}"`)) ? rule : "",
  );
  const fonts = {};
  css = css.replace(/url\(([^)]+)\)/g, (whole, ref) => {
    const clean = ref.replace(/^["']|["']$/g, "");
    if (!clean.startsWith("../")) return whole;
    const relative = clean.slice(3);
    const source = path.join(USWDS, relative);
    if (!fs.existsSync(source)) return whole;
    const emitted = emit(`uswds/${relative}`, fs.readFileSync(source));
    if (relative.startsWith("fonts/")) fonts[relative] = emitted;
    // The stylesheet lives in assets/ too, so a bare file name resolves.
    return `url(${path.basename(emitted)})`;
  });
  return { href: emit("uswds.min.css", Buffer.from(css)), fonts };
}

const IMPORT = /(\bfrom\s*|\bimport\s*\(?\s*)(["'])\.\/([\w-]+\.js)\2/g;

/** Emits js/*.js with their relative imports rewritten to hashed names. */
function buildModules(generated) {
  const dir = path.join(SRC, "js");
  const sources = { ...generated };
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".js"))) {
    sources[file] = fs.readFileSync(path.join(dir, file), "utf8");
  }
  const built = {};
  const deps = {};
  const visit = (file, trail = []) => {
    if (built[file]) return built[file];
    if (!(file in sources)) throw new Error(`unknown module ${file} (${trail})`);
    if (trail.includes(file)) throw new Error(`import cycle: ${[...trail, file]}`);
    deps[file] = new Set();
    const code = sources[file].replace(IMPORT, (whole, lead, quote, dep) => {
      const target = visit(dep, [...trail, file]);
      deps[file].add(dep);
      for (const inner of deps[dep]) deps[file].add(inner);
      return `${lead}${quote}./${path.basename(target)}${quote}`;
    });
    built[file] = emit(file, Buffer.from(code));
    return built[file];
  };
  for (const file of Object.keys(sources)) visit(file);
  return { built, deps };
}

/**
 * The catalogs present in src/i18n; a language without one falls back to
 * English. Each is split in two: the public site's messages, precached on
 * every resident's device, and the staff console's (staff.* keys), loaded
 * by the console's pages only.
 */
function buildCatalogs() {
  const dir = path.join(SRC, "i18n");
  const catalogs = {};
  const staff = {};
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
    const text = fs.readFileSync(path.join(dir, file), "utf8");
    const messages = JSON.parse(text); // a broken catalog fails the build, not a visitor
    const part = (wanted) =>
      Buffer.from(
        JSON.stringify(
          Object.fromEntries(
            Object.entries(messages).filter(([key]) => key.startsWith("staff.") === wanted),
          ),
        ),
      );
    const code = file.slice(0, -5);
    catalogs[code] = emit(`i18n-${file}`, part(false));
    staff[code] = emit(`i18n-staff-${file}`, part(true));
  }
  if (!catalogs.en) throw new Error("src/i18n/en.json is required");
  return { catalogs, staff };
}

function buildPages(map, deps, fonts) {
  const partial = (name) => fs.readFileSync(path.join(SRC, "partials", `${name}.html`), "utf8");
  // Every page's shared <head> lines (charset, CSP, viewport, icons, styles).
  const head = partial("head").trim();
  // The skip link, the opening of <header> and the official banner: shared by
  // the public and the staff header, which go on from there.
  const headerTop = partial("header-top").trim();
  const header = partial("header").replace("<!--#header-top-->", headerTop);
  const footer = partial("footer");
  const csp = fs.readFileSync(path.join(SRC, "csp.txt"), "utf8").trim();
  const staffHeader = partial("staff-header").replace("<!--#header-top-->", headerTop);
  const pages = [];
  // Public pages at the top level; the staff console under staff/, whose
  // references to built files climb one folder ("../assets/...").
  const files = [
    ...fs.readdirSync(SRC).filter((f) => f.endsWith(".html")).sort(),
    ...fs
      .readdirSync(path.join(SRC, "staff"))
      .filter((f) => f.endsWith(".html"))
      .sort()
      .map((f) => `staff/${f}`),
  ];
  for (const file of files) {
    const up = file.startsWith("staff/") ? "../" : "";
    let html = fs.readFileSync(path.join(SRC, file), "utf8");
    const page = /data-page="([\w-]+)"/.exec(html)?.[1];
    if (!page) throw new Error(`${file}: <body> needs data-page`);
    html = html
      .replace("<!--#head-->", head)
      .replace("<!--#csp-->", `<meta http-equiv="Content-Security-Policy" content="${csp}">`)
      .replace("<!--#header-->", header)
      .replace("<!--#staffheader-->", staffHeader)
      .replace("<!--#footer-->", footer)
      // Mark the current page in the navigation at build time, not in script.
      .replace(`data-nav="${page}"`, `data-nav="${page}" aria-current="page"`);
    const entry = /<script type="module" src="js\/([\w-]+\.js)"><\/script>/.exec(html)?.[1];
    if (!entry) throw new Error(`${file}: needs one module entry script`);
    // Preloading the whole module graph saves round trips on slow connections.
    const preloads = [...(deps[entry] || [])]
      .map((dep) => `<link rel="modulepreload" href="${up}${map[`js/${dep}`]}">`)
      .concat(
        Object.values(fonts).map(
          (href) => `<link rel="preload" href="${up}${href}" as="font" type="font/woff2" crossorigin>`,
        ),
      );
    html = html.replace("<!--#preload-->", preloads.join("\n  "));
    html = html.replace(/(href|src)="([^"#:?]+)"/g, (whole, attr, ref) => {
      if (ref.endsWith(".html") || ref === "manifest.webmanifest" || ref.startsWith(`${up}assets/`)) {
        return whole;
      }
      if (ref.startsWith("uswds/") && !(ref in map)) {
        map[ref] = emit(ref, fs.readFileSync(path.join(USWDS, ref.slice(6))));
      }
      if (!(ref in map)) throw new Error(`${file}: ${ref} is not a built asset`);
      return `${attr}="${up}${map[ref]}"`;
    });
    const leftover = /<!--#\w+-->/.exec(html);
    if (leftover) throw new Error(`${file}: unknown include ${leftover[0]}`);
    fs.mkdirSync(path.dirname(path.join(DIST, file)), { recursive: true });
    fs.writeFileSync(path.join(DIST, file), html);
    pages.push(file);
  }
  return pages;
}

/** Images under src/img; USWDS images ("uswds/img/...") are copied when a page uses one. */
function buildImages(map) {
  const dir = path.join(SRC, "img");
  for (const file of fs.readdirSync(dir)) {
    map[`img/${file}`] = emit(`img/${file}`, fs.readFileSync(path.join(dir, file)));
  }
}

function build() {
  fs.rmSync(DIST, { recursive: true, force: true });
  fs.mkdirSync(ASSETS, { recursive: true });

  const map = {};
  const uswds = buildUswdsCss();
  map["css/uswds.css"] = uswds.href;
  const siteCss = fs.readFileSync(path.join(SRC, "css", "site.css"));
  map["css/site.css"] = emit("site.css", siteCss);
  buildImages(map);
  const coreFonts = Object.fromEntries(CORE_FONTS.map((f) => [f, uswds.fonts[f]]));

  // Modules find catalogs through this generated one; paths are relative to it.
  const { catalogs, staff: staffCatalogs } = buildCatalogs();
  const relative = (hrefs) =>
    Object.fromEntries(
      Object.entries(hrefs).map(([lang, href]) => [lang, `./${path.basename(href)}`]),
    );
  const generated = {
    "catalogs.js":
      "// Generated by build.mjs: the hashed catalog of each language present.\n" +
      `export const CATALOGS = ${JSON.stringify(relative(catalogs), null, 2)};\n` +
      "// The staff console's messages, loaded by its pages only.\n" +
      `export const STAFF_CATALOGS = ${JSON.stringify(relative(staffCatalogs), null, 2)};\n`,
  };
  const modules = buildModules(generated);
  for (const [file, href] of Object.entries(modules.built)) map[`js/${file}`] = href;

  const pages = buildPages(map, modules.deps, coreFonts);

  const manifest = JSON.parse(fs.readFileSync(path.join(SRC, "manifest.webmanifest"), "utf8"));
  for (const icon of manifest.icons) icon.src = map[icon.src];
  fs.writeFileSync(path.join(DIST, "manifest.webmanifest"), JSON.stringify(manifest, null, 2));

  // The version changes whenever any precached byte does, so a deploy always
  // installs a fresh service worker and drops the old caches.
  // The staff console (its pages and staff-*.js modules) stays out of the
  // precache: residents' devices never download it, and staff work online.
  const isStaff = (logical) => logical.startsWith("staff/") || logical.startsWith("js/staff-");
  const precache = [
    ...pages.filter((page) => !isStaff(page)),
    "manifest.webmanifest",
    ...new Set([
      ...Object.entries(map)
        .filter(([logical]) => !isStaff(logical))
        .map(([, href]) => href),
      ...Object.values(catalogs),
      ...Object.values(coreFonts),
    ]),
  ];
  const digest = createHash("sha256");
  for (const entry of precache) {
    digest.update(entry).update(fs.readFileSync(path.join(DIST, entry)));
  }
  const version = digest.digest("hex").slice(0, 12);
  const sw = fs
    .readFileSync(path.join(SRC, "sw.js"), "utf8")
    .replace("__VERSION__", JSON.stringify(version))
    .replace("__PRECACHE__", JSON.stringify(precache, null, 2));
  fs.writeFileSync(path.join(DIST, "sw.js"), sw);

  const csp = fs.readFileSync(path.join(SRC, "csp.txt"), "utf8").trim();
  const info = { version, pages, precache, assets: map, catalogs, csp };
  fs.writeFileSync(path.join(DIST, "build.json"), JSON.stringify(info, null, 2));
  report(precache);
}

function report(precache) {
  let raw = 0;
  let gzip = 0;
  for (const entry of precache) {
    const bytes = fs.readFileSync(path.join(DIST, entry));
    raw += bytes.length;
    gzip += gzipSync(bytes, { level: 9 }).length;
  }
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  console.log(`built dist/: ${precache.length} precached files, ${kb(raw)} (${kb(gzip)} gzip)`);
}

build();
