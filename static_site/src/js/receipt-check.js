// Checking a receipt against the published list, on this device only.
//
// The page downloads receipts.txt (the SHA-256 of every counted ballot's
// receipt, sorted), checks the file against the digest result.json records,
// hashes the receipt here with WebCrypto and looks the hash up. The receipt
// itself is never sent anywhere.

// A receipt is 120 bits in base32: 24 letters A-Z and digits 2-7, shown in
// groups of four (chalicelib/voting.py derive_receipt).
const RECEIPT = /^[A-Z2-7]{24}$/;
const FORMULA_STARTS = ["=", "+", "-", "@", "\t", "\r"];

/** The receipt as the server wrote it, from what a voter typed; null if it cannot be one. */
export function normaliseReceipt(typed) {
  const compact = String(typed).toUpperCase().replace(/[\s-]+/g, "");
  if (!RECEIPT.test(compact)) return null;
  return compact.match(/.{4}/g).join("-");
}

/** Lower-case hex SHA-256 of bytes (an ArrayBuffer or a typed array). */
export async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The receipt's hash, as receipts.txt lists it. */
export const receiptHash = (receipt) => sha256Hex(new TextEncoder().encode(receipt));

/** Throws unless the bytes are the file whose digest ("sha256:hex") result.json records. */
export async function checkDigest(bytes, recorded) {
  if (!recorded || `sha256:${await sha256Hex(bytes)}` !== recorded) {
    throw new Error("the published file does not match its recorded digest");
  }
}

/** The set of receipt hashes in the bytes of receipts.txt. */
export function receiptSet(bytes) {
  const text = new TextDecoder().decode(bytes);
  return new Set(text.split("\n").filter((line) => line.length > 0));
}

/**
 * The proposal ids chosen on the row of ballots-by-receipt.csv whose first
 * cell is ``hash``, or null when no row has it.
 */
export function choicesOf(bytes, hash) {
  const lines = new TextDecoder().decode(bytes).split("\n");
  const ids = csvCells(lines[0] || "").slice(1).map(unsafeCell);
  const row = lines.find((line) => line.startsWith(hash + ","));
  if (!row) return null;
  // After the hash every cell is 0 or 1, so a plain split is exact for rows.
  const cells = row.split(",").slice(1);
  return ids.filter((_, index) => cells[index] === "1");
}

/** The cells of one CSV line (quotes as Python's csv module writes them). */
function csvCells(line) {
  const cells = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (quoted && char === '"' && line[i + 1] === '"') {
      cell += '"';
      i++;
    } else if (char === '"') {
      quoted = !quoted;
    } else if (char === "," && !quoted) {
      cells.push(cell);
      cell = "";
    } else {
      cell += char;
    }
  }
  cells.push(cell);
  return cells;
}

/** A header cell back to its proposal id (see chalicelib/auditcsv.py safe_cell). */
function unsafeCell(cell) {
  return cell.startsWith("'") && FORMULA_STARTS.some((c) => cell.startsWith(c, 1))
    ? cell.slice(1)
    : cell;
}
