#pragma once

// One logging category per area. Info and above are on; debug is opt-in:
//   QT_LOGGING_RULES="saga.*.debug=true"
#include <QLoggingCategory>

Q_DECLARE_LOGGING_CATEGORY(lcModel)   // saga.model
Q_DECLARE_LOGGING_CATEGORY(lcEngine)  // saga.engine
Q_DECLARE_LOGGING_CATEGORY(lcStore)   // saga.store
Q_DECLARE_LOGGING_CATEGORY(lcServer)  // saga.server
Q_DECLARE_LOGGING_CATEGORY(lcSources) // saga.sources
Q_DECLARE_LOGGING_CATEGORY(lcUi)      // saga.ui
