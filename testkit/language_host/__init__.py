"""STAND-IN for the pulumi-language-python plugin (see __main__)."""
