"""The rule table: every rule's id, default severity, title and help (SARIF rule metadata)."""

from __future__ import annotations

from podkeeper.lint import rules_container as rc
from podkeeper.lint import rules_exec as rx
from podkeeper.lint import rules_probes as rp
from podkeeper.lint import rules_timing as rt
from podkeeper.lint import rules_workload as rw
from podkeeper.lint.finding import Rule, Severity

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

K8S_INVALID = "k8s-invalid"
API_REMOVED = "api-removed"

RULES: tuple[Rule, ...] = (
    Rule(
        K8S_INVALID,
        E,
        "The API server would reject this object",
        "The object fails Kubernetes validation (pkg/apis/core/validation): `kubectl apply` "
        "would refuse it with this message. Each validation error is one finding, at the "
        "field it names.",
    ),
    Rule(
        API_REMOVED,
        E,
        "Workload on an API version Kubernetes no longer serves",
        "extensions/v1beta1, apps/v1beta1 and apps/v1beta2 workloads stopped being served in "
        "Kubernetes 1.16, batch/v1beta1 CronJobs in 1.25: `kubectl apply` refuses them with "
        "`no matches for kind`. The finding names the replacement; the pod template is linted "
        "as if written for it.",
    ),
    Rule(
        "readiness-missing",
        W,
        "Serving container without a readiness probe",
        "A container of a Deployment, StatefulSet or DaemonSet, or of a workload a Service "
        "in the same input selects, has no readinessProbe: the kubelet reports it ready as "
        "soon as it starts, so it receives traffic before it can serve and while it cannot.",
        check=rp.readiness_missing,
    ),
    Rule(
        "liveness-missing",
        INFO,
        "Long-running container without a liveness probe",
        "Without a livenessProbe a container that hangs without exiting is never restarted.",
        check=rp.liveness_missing,
    ),
    Rule(
        "probe-identical",
        W,
        "Liveness probe runs the same check as readiness",
        "Liveness and readiness run the same check (same handler with the same path and "
        "port, named ports resolved, or the same command), whatever their timings: whatever "
        "takes the pod out of rotation for long enough also restarts it, and a shared "
        "dependency's outage restarts every replica instead of draining them.",
        check=rp.probe_identical,
    ),
    Rule(
        "probe-port-other-container",
        W,
        "Probe aimed at another container's port",
        "A probe's port is declared by another container of the pod. Containers share the "
        "pod's network namespace, so the probe checks that other container: this one is "
        "restarted or taken out of rotation for the other's faults, and its own go unseen.",
        check=rp.probe_port_other_container,
    ),
    Rule(
        "startup-shorter-than-liveness",
        W,
        "Startup probe allows less time than liveness would",
        "initialDelaySeconds + failureThreshold × periodSeconds of the startupProbe is shorter "
        "than the livenessProbe's: the startup probe, meant to give slow starts more time, "
        "kills them sooner than liveness alone would.",
        check=rt.startup_shorter_than_liveness,
    ),
    Rule(
        "liveness-delay-long",
        W,
        "Long liveness initialDelaySeconds instead of a startup probe",
        "A livenessProbe initialDelaySeconds of 300 s or more (without a startupProbe) leaves "
        "a hang undetected for that long after every start and restart; a startupProbe gives "
        "the same time to a slow start and hands over to liveness as soon as it succeeds.",
        check=rt.liveness_delay_long,
    ),
    Rule(
        "exec-probe-never-fails",
        W,
        "Exec probe that cannot fail",
        "The probe command exits 0 whatever the application does (`true`, `exit 0`, "
        "`echo`, `test -d /proc/1`, `cat /proc/1/status`, `check || true`): the probe "
        "never detects anything.",
        check=rx.exec_probe_never_fails,
    ),
    Rule(
        "exec-probe-client-timeout",
        W,
        "Exec probe runs a network client too quickly",
        "An exec probe runs a client program (grpc_health_probe, mysql, psql, pg_isready, "
        "redis-cli, curl, wget, ...) within the default 1 s timeoutSeconds, or with a "
        "client-side timeout longer than timeoutSeconds: under load the kubelet kills it at "
        "the timeout and counts a failure.",
        check=rx.exec_probe_client_timeout,
    ),
    Rule(
        "probe-port-undeclared",
        E,
        "Probe port not declared by the container",
        "A named probe port that no containerPort declares makes every probe error (the "
        "result is discarded: never ready, never restarted): error. A numeric port that is "
        "not declared works, and is reported as info only.",
        check=rp.probe_port_undeclared,
    ),
    Rule(
        "probe-timeout-exceeds-period",
        W,
        "Probe timeout at or above its period",
        "timeoutSeconds >= periodSeconds: the worker probes synchronously, so slow probes "
        "stretch the period and delay detection.",
        check=rp.probe_timeout_exceeds_period,
    ),
    Rule(
        "liveness-before-ready",
        E,
        "Liveness can kill before readiness could succeed",
        "Compares the liveness failure window (initialDelaySeconds + failureThreshold × "
        "periodSeconds, one period earlier at best) with the earliest readiness success "
        "(initialDelaySeconds + (successThreshold - 1) × periodSeconds): when liveness acts "
        "first, a slow-starting container is restarted before it ever becomes Ready.",
        check=rt.liveness_before_ready,
    ),
    Rule(
        "liveness-kills-before-unready",
        E,
        "Liveness restarts a hung container before readiness removes it",
        "For a hung container, compares failureThreshold × periodSeconds + timeoutSeconds of "
        "liveness and readiness: when liveness acts first (error) or possibly at the same "
        "time (warning), the pod is killed while still an endpoint and users see errors "
        "instead of a failover.",
        check=rt.liveness_kills_before_unready,
    ),
    Rule(
        "startup-window",
        INFO,
        "Longest startup the probes tolerate",
        "Reports initialDelaySeconds + failureThreshold × periodSeconds of the startup probe "
        "(or, without one, of the liveness probe): the longest startup before the kubelet "
        "kills the container. An error when the expected startup (--expect-startup, or the "
        "annotation podkeeper.io/expected-startup) is as long or longer; a warning when it "
        "survives only with a lucky probe-ticker phase.",
        check=rt.startup_window,
    ),
    Rule(
        "probe-http-host",
        W,
        "httpGet probe sent to another host",
        "httpGet.host makes the kubelet probe that address instead of the pod, so the check "
        "says nothing about this container. Use a Host header for virtual hosts.",
        check=rp.probe_http_host,
    ),
    Rule(
        "exec-probe-tool-missing",
        E,
        "Exec probe or hook runs a tool the image lacks",
        "An exec probe or lifecycle hook calls sh, bash, curl or wget in an image known to "
        "ship without them (distroless, scratch, Chainguard static, pause): it fails every "
        "time (executable not found, exit 126/127).",
        check=rc.exec_probe_tool_missing,
    ),
    Rule(
        "prestop-exceeds-grace",
        E,
        "preStop sleep uses up the termination grace period",
        "A preStop sleep (the sleep action, or `sleep N` in an exec hook) at or over "
        "terminationGracePeriodSeconds leaves the application only the kubelet's 2 s minimum "
        "between SIGTERM and SIGKILL.",
        check=rc.prestop_exceeds_grace,
    ),
    Rule(
        "memory-limit-missing",
        W,
        "Container without a memory limit",
        "Without resources.limits.memory the container may take the node's memory and the "
        "OOM killer picks victims node-wide.",
        check=rc.memory_limit_missing,
    ),
    Rule(
        "jvm-heap-near-limit",
        W,
        "JVM heap leaves too little of the memory limit",
        "-Xmx, -XX:MaxRAMPercentage or -XX:MaxRAM (in command, args, JAVA_TOOL_OPTIONS, "
        "JDK_JAVA_OPTIONS, _JAVA_OPTIONS, JAVA_OPTS, JVM_OPTS, CATALINA_OPTS or ES_JAVA_OPTS) "
        "leaves under 25 % or under 256 MiB of the memory "
        "limit for non-heap memory: OOMKilled while the heap is still below its maximum. An "
        "error when the heap takes 90 % of the limit or more.",
        check=rc.jvm_heap_near_limit,
    ),
    Rule(
        "requests-missing",
        W,
        "Container without memory or CPU requests",
        "Neither a request nor a limit (from which the request defaults) for memory or CPU: "
        "the scheduler places the pod as if it needed nothing, and without any it is "
        "BestEffort, evicted first under node pressure.",
        check=rw.requests_missing,
    ),
    Rule(
        "cronjob-deadline-missing",
        INFO,
        "CronJob without startingDeadlineSeconds",
        "Without startingDeadlineSeconds the CronJob controller stops scheduling after more "
        "than 100 missed schedules, and starts a missed run however late.",
        raw_check=rw.cronjob_deadline_missing,
    ),
    Rule(
        "job-ttl-missing",
        INFO,
        "Job without ttlSecondsAfterFinished",
        "A finished Job and its pods stay until deleted by hand; ttlSecondsAfterFinished has "
        "the TTL controller remove them.",
        raw_check=rw.job_ttl_missing,
    ),
    Rule(
        "job-backoff-default",
        INFO,
        "Job retries deliberate failures 6 times",
        "A Job (or CronJob) without backoffLimit or podFailurePolicy whose container script "
        "exits non-zero on purpose (`exit 1`, `exit $RC`): each failure is retried with "
        "exponential back-off up to the default 6 times before the Job fails.",
        raw_check=rw.job_backoff_default,
    ),
    Rule(
        "sidecar-probe-misplaced",
        E,
        "Probe on an init container that is not a sidecar",
        "Probes on an init container without restartPolicy: Always are never run and the "
        "API server rejects them; a sidecar needs restartPolicy: Always.",
        raw_check=rp.sidecar_probe_misplaced,
    ),
)

BY_ID: dict[str, Rule] = {r.id: r for r in RULES}
