from .app import create_app as create_app
from .app import load_overview as load_overview
