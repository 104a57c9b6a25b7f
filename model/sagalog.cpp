#include "sagalog.h"

Q_LOGGING_CATEGORY(lcModel, "saga.model")
Q_LOGGING_CATEGORY(lcEngine, "saga.engine")
Q_LOGGING_CATEGORY(lcStore, "saga.store")
Q_LOGGING_CATEGORY(lcServer, "saga.server")
Q_LOGGING_CATEGORY(lcSources, "saga.sources")
Q_LOGGING_CATEGORY(lcUi, "saga.ui")
