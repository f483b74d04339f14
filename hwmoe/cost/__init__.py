from .usage import Usage
