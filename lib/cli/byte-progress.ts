/** Progress over the bytes of an input file: a bar on a terminal, nothing otherwise (logs stay clean in CI). */
import cliProgress from "cli-progress";

export interface ByteProgress {
  update(bytesRead: number, records: number): void;
  stop(): void;
}

export function byteProgress(label: string, totalBytes: number, stream: NodeJS.WriteStream = process.stderr): ByteProgress {
  if (!stream.isTTY || totalBytes <= 0) return { update() {}, stop() {} };
  const mb = (b: number) => (b / 1e6).toFixed(1);
  const bar = new cliProgress.SingleBar(
    { stream, format: `${label} |{bar}| {percentage}% {mbRead}/{mbTotal} MB | {records} records | ETA {eta_formatted}`, hideCursor: true, fps: 5 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(totalBytes, 0, { mbRead: "0.0", mbTotal: mb(totalBytes), records: 0 });
  return {
    update: (b, records) => bar.update(b, { mbRead: mb(b), records }),
    stop: () => bar.stop(),
  };
}
