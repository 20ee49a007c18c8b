"""What a task asks and answers: tag and time tokens, the timed output formats, and the task registry."""
