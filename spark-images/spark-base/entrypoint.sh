#!/bin/bash
# Spark's Kubernetes entrypoint contract, as the driver and executor pods that spark-submit creates
# call it (apache/spark resource-managers/kubernetes/docker/src/main/dockerfiles/spark/entrypoint.sh
# defines it; this is orchard's own script for its local base image):
#   driver ARGS...    spark-submit in client mode, bound to SPARK_DRIVER_BIND_ADDRESS (the pod IP)
#   executor          KubernetesExecutorBackend, configured by the SPARK_* variables the pod gets
#   anything else     exec'd as given
# Every command runs under tini, which forwards signals and reaps the JVM's and Python's children.
# Unlike Spark's script it writes no file: the root filesystem is read-only in orchard's pods, and
# a uid without a passwd entry cannot be added at run time, so it is reported instead.
set -euo pipefail

if ! getent passwd "$(id -u)" >/dev/null; then
  echo "orchard-spark-entrypoint: uid $(id -u) has no entry in /etc/passwd; Hadoop's login will fail with" \
    "\"invalid null input: name\": run the pod as the image's user (hadoop, uid 999)" >&2
fi

classpath="${SPARK_CLASSPATH:+$SPARK_CLASSPATH:}${SPARK_HOME}/jars/*"
if [[ -n "${SPARK_EXTRA_CLASSPATH:-}" ]]; then classpath="$classpath:$SPARK_EXTRA_CLASSPATH"; fi
if [[ -n "${HADOOP_CONF_DIR:-}" ]]; then classpath="$HADOOP_CONF_DIR:$classpath"; fi
classpath="${SPARK_CONF_DIR:-$SPARK_HOME/conf}:$classpath"

case "${1:-}" in
  driver)
    shift
    command=("$SPARK_HOME/bin/spark-submit" --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS:?set by Spark in the driver pod}" --deploy-mode client "$@")
    ;;
  executor)
    shift
    # The executor's JVM options arrive as SPARK_JAVA_OPT_0, SPARK_JAVA_OPT_1, ... in that order.
    java_opts=()
    while IFS= read -r name; do java_opts+=("${!name}"); done < <(compgen -e | grep -E '^SPARK_JAVA_OPT_[0-9]+$' | sort -t_ -k4 -n || true)
    command=(
      "$JAVA_HOME/bin/java" "${java_opts[@]}"
      "-Xms${SPARK_EXECUTOR_MEMORY:?}" "-Xmx${SPARK_EXECUTOR_MEMORY}"
      -cp "$classpath${SPARK_DIST_CLASSPATH:+:$SPARK_DIST_CLASSPATH}"
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend
      --driver-url "${SPARK_DRIVER_URL:?}"
      --executor-id "${SPARK_EXECUTOR_ID:?}"
      --cores "${SPARK_EXECUTOR_CORES:?}"
      --app-id "${SPARK_APPLICATION_ID:?}"
      --hostname "${SPARK_EXECUTOR_POD_IP:?}"
      --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:?}"
      --podName "${SPARK_EXECUTOR_POD_NAME:?}"
    )
    ;;
  *)
    command=("$@")
    ;;
esac

exec /usr/bin/tini -s -- "${command[@]}"
