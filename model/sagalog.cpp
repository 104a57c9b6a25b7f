#include "sagalog.h"

Q_LOGGING_CATEGORY(lcModel, "saga.model", QtInfoMsg)
Q_LOGGING_CATEGORY(lcEngine, "saga.engine", QtInfoMsg)
Q_LOGGING_CATEGORY(lcStore, "saga.store", QtInfoMsg)
Q_LOGGING_CATEGORY(lcServer, "saga.server", QtInfoMsg)
Q_LOGGING_CATEGORY(lcSources, "saga.sources", QtInfoMsg)
Q_LOGGING_CATEGORY(lcUi, "saga.ui", QtInfoMsg)
