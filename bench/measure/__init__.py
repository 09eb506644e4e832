"""One measured cycle: the executor seam, the Docker executor, attach reading, cold cycles."""
