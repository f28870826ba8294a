from .options import DEFAULT_APP_ID as DEFAULT_APP_ID
from .options import DEFAULT_KEY as DEFAULT_KEY
from .options import Faults as Faults
from .options import SandboxKeys as SandboxKeys
from .outcomes import outcome_for as outcome_for
from .server import SandboxHandle as SandboxHandle
from .server import make_server as make_server
from .server import start_sandbox as start_sandbox
