import { Injectable } from '@nestjs/common';

/** OWNER: export work. */
@Injectable()
export class ExportService {}
