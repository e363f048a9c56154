/**
 * IDX loader (the MNIST format), gzipped or not: an images file (ubyte, 3 dimensions) and its
 * labels file (ubyte, 1 dimension). `--data` names the images file (the labels file is found by
 * swapping "images"→"labels" and "idx3"→"idx1") or a folder holding one of each. Pixels are
 * scaled to [0, 1]; records are streamed.
 */
import fs from "node:fs";
import path from "node:path";
import { dataError, assertReadableFile, openStream } from "./lines.js";
import { labelScan, type DataSource, type Sample } from "./source.js";

interface IdxHeader {
  dims: number[];
  headerBytes: number;
}

/** Fixed-size records of an IDX file after its header, streamed. */
async function* idxRecords(file: string): AsyncGenerator<{ header: IdxHeader } | { record: Buffer }> {
  let pending: Buffer = Buffer.alloc(0);
  let header: IdxHeader | undefined;
  let recordSize = 0;
  for await (const chunk of openStream(file)) {
    pending = pending.length === 0 ? (chunk as Buffer) : Buffer.concat([pending, chunk as Buffer]);
    if (!header) {
      if (pending.length < 4) continue;
      if (pending[0] !== 0 || pending[1] !== 0) throw dataError(file, "not an IDX file (bad magic number).", { code: "DATA_NOT_IDX" });
      if (pending[2] !== 0x08) throw dataError(file, `IDX element type 0x${pending[2].toString(16)} is not supported (only unsigned bytes).`, { code: "DATA_NOT_IDX" });
      const ndims = pending[3];
      if (pending.length < 4 + 4 * ndims) continue;
      const dims = Array.from({ length: ndims }, (_, i) => pending.readUInt32BE(4 + 4 * i));
      header = { dims, headerBytes: 4 + 4 * ndims };
      recordSize = dims.slice(1).reduce((a, b) => a * b, 1);
      pending = pending.subarray(header.headerBytes);
      yield { header };
    }
    let offset = 0;
    while (pending.length - offset >= recordSize) {
      yield { record: pending.subarray(offset, offset + recordSize) };
      offset += recordSize;
    }
    pending = pending.subarray(offset);
  }
  if (!header) throw dataError(file, "the file is empty or its header is truncated.", { code: "DATA_EMPTY" });
  if (pending.length > 0) throw dataError(file, `truncated: ${pending.length} bytes after the last whole record.`, { code: "DATA_NOT_IDX" });
}

/** The labels file that goes with an images file, or the pair inside a folder. */
function findIdxPair(dataPath: string): { images: string; labels: string } {
  if (fs.existsSync(dataPath) && fs.statSync(dataPath).isDirectory()) {
    const files = fs.readdirSync(dataPath).sort();
    const images = files.filter((f) => /idx3/.test(f));
    const labels = files.filter((f) => /idx1/.test(f));
    if (images.length !== 1 || labels.length !== 1) {
      throw dataError(dataPath, `expected one *idx3* images file and one *idx1* labels file, found ${images.length} and ${labels.length}.`, { code: "DATA_NOT_IDX" });
    }
    return { images: path.join(dataPath, images[0]), labels: path.join(dataPath, labels[0]) };
  }
  const base = path.basename(dataPath);
  const labelsName = base.replace("images", "labels").replace("idx3", "idx1");
  if (labelsName === base) throw dataError(dataPath, 'cannot name its labels file: expected "images"/"idx3" in the name.', { code: "DATA_NOT_IDX" });
  return { images: dataPath, labels: path.join(path.dirname(dataPath), labelsName) };
}

/** Open and validate an IDX images + labels pair. */
export async function openIdx(dataPath: string): Promise<DataSource> {
  const { images, labels } = findIdxPair(dataPath);
  assertReadableFile(images);
  assertReadableFile(labels);
  let imageDims: number[] = [];
  let imageCount = 0;
  for await (const item of idxRecords(images)) {
    if ("header" in item) {
      imageDims = item.header.dims;
      if (imageDims.length !== 3) throw dataError(images, `has ${imageDims.length} dimensions; an images file has 3 (count, rows, columns).`, { code: "DATA_NOT_IDX" });
    } else imageCount++;
  }
  if (imageCount !== imageDims[0]) throw dataError(images, `header says ${imageDims[0]} images, the file holds ${imageCount}.`, { code: "DATA_NOT_IDX" });
  let labelCount = 0;
  const labelFacts = labelScan(labels);
  for await (const item of idxRecords(labels)) {
    if ("header" in item) {
      if (item.header.dims.length !== 1) throw dataError(labels, `has ${item.header.dims.length} dimensions; a labels file has 1.`, { code: "DATA_NOT_IDX" });
    } else {
      labelCount++;
      labelFacts.see(item.record[0], labelCount);
    }
  }
  if (labelCount !== imageCount) throw dataError(labels, `holds ${labelCount} labels for ${imageCount} images in ${images}.`, { code: "DATA_ROW_WIDTH" });
  if (imageCount === 0) throw dataError(images, "holds no images.", { code: "DATA_EMPTY" });
  const [, rows, cols] = imageDims;
  return {
    name: images,
    featureShape: [rows, cols, 1],
    size: imageCount,
    ...labelFacts.facts(),
    async *read(): AsyncGenerator<Sample> {
      const labelIt = idxRecords(labels);
      await labelIt.next();
      for await (const item of idxRecords(images)) {
        if ("header" in item) continue;
        const label = await labelIt.next();
        if (label.done || !("record" in label.value)) throw dataError(labels, "ended before the images.");
        const x = new Float32Array(item.record.length);
        for (let i = 0; i < x.length; i++) x[i] = item.record[i] / 255;
        yield { x, y: label.value.record[0] };
      }
      await labelIt.return(undefined);
    },
  };
}

/** Encode images (values 0..255) and labels as an IDX pair (for tests and fixtures). */
export function encodeIdx(images: Uint8Array, count: number, rows: number, cols: number, labels: Uint8Array): { images: Buffer; labels: Buffer } {
  const ih = Buffer.alloc(16);
  ih.writeUInt32BE(0x00000803, 0);
  ih.writeUInt32BE(count, 4);
  ih.writeUInt32BE(rows, 8);
  ih.writeUInt32BE(cols, 12);
  const lh = Buffer.alloc(8);
  lh.writeUInt32BE(0x00000801, 0);
  lh.writeUInt32BE(count, 4);
  return { images: Buffer.concat([ih, Buffer.from(images)]), labels: Buffer.concat([lh, Buffer.from(labels)]) };
}
