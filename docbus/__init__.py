"""docbus: the command line that ties the node (producers), the processors (consumers) and infra together."""
