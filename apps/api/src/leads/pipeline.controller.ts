import { Controller } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';

/** OWNER: pipeline work. */
@ApiTags('leads')
@Controller('v1/stages')
export class PipelineController {}
