import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TEMPLATE_NAME } from '#core/patterns';
import type { SchemaFiles, TemplateSource } from '#core/ports';

/** Templates as Skeema directories: <dir>/<name>/*.sql (schemas/templates; bundled with LF3/LF6). */
export class FileTemplateSource implements TemplateSource {
  constructor(private readonly dir: string) {}

  async exists(name: string): Promise<boolean> {
    return (await this.load(name)) !== undefined;
  }

  async load(name: string): Promise<SchemaFiles | undefined> {
    if (!TEMPLATE_NAME.test(name)) return undefined;
    let entries: string[];
    try {
      entries = await readdir(join(this.dir, name));
    } catch {
      return undefined;
    }
    const files: SchemaFiles = {};
    for (const file of entries.filter((f) => f.endsWith('.sql')).sort()) {
      files[file] = await readFile(join(this.dir, name, file), 'utf8');
    }
    return files;
  }
}
