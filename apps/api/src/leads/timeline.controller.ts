import { Controller } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';

/** OWNER: lead records and timeline work. */
@ApiTags('leads')
@Controller('v1/leads')
export class TimelineController {}
