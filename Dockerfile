# The cohortflow Airflow image: the official Apache Airflow 3 image plus this project.
# Built by docker-compose.yml (`docker compose up --build`); every Airflow service and the
# provider sandbox run it.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
ARG AIRFLOW_VERSION

# The project at /opt/cohortflow, installed editable so its sql/, include/campaigns and
# include/examples sit where the library expects them (settings.PROJECT_ROOT).
USER root
COPY --chown=airflow:0 pyproject.toml README.md /opt/cohortflow/
COPY --chown=airflow:0 include /opt/cohortflow/include
COPY --chown=airflow:0 sql /opt/cohortflow/sql
COPY --chown=airflow:0 dags /opt/cohortflow/dags
COPY --chown=airflow:0 plugins /opt/cohortflow/plugins
COPY --chown=airflow:0 scripts /opt/cohortflow/scripts
COPY --chown=airflow:0 airflow_settings.yaml /opt/cohortflow/airflow_settings.yaml
USER airflow
# Folders the compose file mounts named volumes on: created here so the volumes start out
# owned by the airflow user.
RUN mkdir -p /opt/airflow/warehouse /opt/airflow/campaigns /opt/airflow/sandbox
# Pin the image's own Airflow so pip never swaps it; the image already carries the amazon,
# celery and postgres providers.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -e /opt/cohortflow

ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/cohortflow/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/cohortflow/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    COHORTFLOW_SQL_DIR=/opt/cohortflow/sql
