import { Controller } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';

/** OWNER: export work. */
@ApiTags('leads')
@Controller('v1/leads')
export class ExportController {}
