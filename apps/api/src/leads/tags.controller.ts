import { Controller } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';

/** OWNER: tags/custom fields/assignment work. */
@ApiTags('leads')
@Controller('v1/tags')
export class TagsController {}
