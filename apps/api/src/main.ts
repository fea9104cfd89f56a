import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { loadConfigOrExit } from '@ibhq/core';
import { createApiApp } from './bootstrap.js';

const config = loadConfigOrExit();
const app = await createApiApp(config);
await app.listen({ host: config.api.host, port: config.api.port });
new Logger('API').log(
  { url: await app.getUrl(), docs: `${config.api.publicUrl}/docs` },
  'API listening',
);
