import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CapturedMail {
  path: string;
  auth: string;
  fields: Record<string, string>;
}

/** Mailgun's API, captured: every request the real mailgun.js client sends to `url` lands in `mails`. */
export interface MailgunCapture {
  url: string;
  mails: CapturedMail[];
  /** Mailgun answers 503 to this many more requests (a mail outage). */
  outage: number;
  /** Mailgun refuses this many more requests with 400, as it does a message it will not take. */
  refusing: number;
  close(): Promise<void>;
}

export async function startMailgunCapture(): Promise<MailgunCapture> {
  const server = createServer(async (req, res) => {
    if (capture.outage > 0) {
      capture.outage--;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"message":"Service Unavailable"}');
      return;
    }
    if (capture.refusing > 0) {
      capture.refusing--;
      req.resume();
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"message":"Domain mg.example.com is not allowed to send: account disabled"}');
      return;
    }
    capture.mails.push({ path: req.url ?? '', auth: String(req.headers.authorization), fields: await readForm(req) });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"<x@mg>","message":"Queued. Thank you."}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const capture: MailgunCapture = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    mails: [],
    outage: 0,
    refusing: 0,
    close: () => new Promise((r) => server.close(() => r())),
  };
  return capture;
}

async function readForm(req: IncomingMessage): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const form = await new Request('http://x', { method: 'POST', headers: { 'content-type': String(req.headers['content-type']) }, body: Buffer.concat(chunks) }).formData();
  return Object.fromEntries([...form.entries()].map(([k, v]) => [k, String(v)]));
}
