import { Controller } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';

/** OWNER: import work. */
@ApiTags('leads')
@Controller('v1/leads/imports')
export class ImportsController {}
