// IndexedDB: the outbox of answers not yet acknowledged ("queue", in the order they were made) and
// the last known state of each attempt ("attempts": the server's state plus this device's answers),
// so a reload without network shows the attempt and loses nothing.
const DB = "assess-take";
let opened = null;

function db() {
  if (!opened) {
    opened = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB, 1);
      request.onupgradeneeded = () => {
        const d = request.result;
        d.createObjectStore("queue", { keyPath: "seq", autoIncrement: true });
        d.createObjectStore("attempts", { keyPath: "id" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return opened;
}

async function run(store, mode, work) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const tx = d.transaction(store, mode);
    const result = work(tx.objectStore(store));
    tx.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

export const queue = {
  add: (entry) => run("queue", "readwrite", (s) => s.add(entry)),
  all: async (attempt) => ((await run("queue", "readonly", (s) => s.getAll())) || []).filter((e) => e.attempt === attempt),
  remove: (seqs) => run("queue", "readwrite", (s) => seqs.forEach((seq) => s.delete(seq))),
};

export const attempts = {
  get: (id) => run("attempts", "readonly", (s) => s.get(id)),
  put: (record) => run("attempts", "readwrite", (s) => s.put(record)),
};
