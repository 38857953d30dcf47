"""Running the workflow: ``run_workflow`` (what ``make run`` calls) and ``gpu_slot`` (pins a
training job to a free GPU with a lock file per device)."""
