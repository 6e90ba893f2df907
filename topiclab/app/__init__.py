"""The application layer: the command line, local servers, deployments and the plugin scaffold."""
