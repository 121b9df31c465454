"""Applications for aid (救助申请) and their approval, one window for every aid type (一门受理、协同办理).

申请 → 受理 → 入户调查 → 经济状况核对 → 民主评议 → 公示 → 审核确认, with a decision deadline counted in
working days on the official calendar, and the small advance of temporary aid (先行救助):

* :mod:`.states` — the statuses, the recorded steps and which step may come next (pure);
* :mod:`.calendar` — working days (工作日) with the State Council's adjusted days (调休);
* :mod:`.workflow` — the services the API calls: apply, each step, extension, decision, advance;
* :mod:`.overdue` — deadlines for the sweep's batch (the ``application_overdue`` warning rule) and the
  closing of that warning when the application is decided.

This package's ``__init__`` imports nothing: ``store.models`` imports :mod:`.states`.
"""
