import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { loadConfigOrExit } from '@ibhq/core';
import { createWorker } from './bootstrap.js';

const config = loadConfigOrExit();
await createWorker(config);
new Logger('Worker').log({ concurrency: config.worker.concurrency }, 'worker running');
