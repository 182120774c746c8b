# Dispatch policies, runs, setpoint commands and stability reports arrive
# with their issues (docs/roadmap.md).
