#pragma once

#include "orderpresets.h"

#include <QDialog>
#include <optional>

class DemoTraffic;
class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSlider;
class QSpinBox;

// Places one order (from a preset, every field editable) and controls the demo
// traffic (orders per minute, share of failures). Placing goes through the
// main window's source; the dialog only builds the request.
class NewOrderDialog : public QDialog
{
    Q_OBJECT
public:
    NewOrderDialog(DemoTraffic *demo, QWidget *parent = nullptr);

    void setPreset(OrderPreset preset);
    OrderPreset preset() const;
    // The order the fields describe. An empty customer id is a new random
    // customer; one that is not a UUID stays null (problem() names it).
    OrderRequest request() const;
    // The first field saga-server would refuse (its rules, SagaJson::
    // orderRequestFromJson), as a sentence that names it; empty when the order
    // can be placed. Place order stays disabled meanwhile.
    QString problem() const;
    void setPlacingEnabled(bool enabled, const QString &whyNot = {});
    // The answer to the last placeRequested: Place is enabled again.
    void showResult(const QString &text, bool ok);
    // After an answer that did not come (showResult said the order may have been
    // placed): offers Send again for `sent`, the request as it went out, with its
    // Idempotency-Key, so sending it again cannot place it twice. Hidden by the
    // next showResult.
    void offerSendAgain(const OrderRequest &sent);
    bool isSendAgainOffered() const { return m_unanswered.has_value(); }
    // Placing was requested and not answered yet (Place is disabled meanwhile).
    bool isPlacing() const { return m_inFlight; }

Q_SIGNALS:
    void placeRequested(const OrderRequest &request);

protected:
    void resizeEvent(QResizeEvent *event) override;

private:
    void fill(const OrderRequest &r);
    void updateDemoControls();
    void updatePlacing(); // the Place button and the message under the fields
    // The window is as high as its wrapped message needs at the current width:
    // a window's minimum size ignores heightForWidth, so a message that wrapped
    // to more lines was cut at top and bottom.
    void fitHeightToWidth();

    DemoTraffic *m_demo = nullptr;
    QComboBox *m_preset = nullptr;
    QLabel *m_expected = nullptr;
    QLineEdit *m_customer = nullptr;
    QLineEdit *m_productId = nullptr;
    QLineEdit *m_productName = nullptr;
    QSpinBox *m_quantity = nullptr;
    QSpinBox *m_price = nullptr;
    QLineEdit *m_payment = nullptr;
    QLineEdit *m_street = nullptr;
    QLineEdit *m_city = nullptr;
    QLineEdit *m_state = nullptr;
    QLineEdit *m_postalCode = nullptr;
    QLineEdit *m_country = nullptr;
    QPushButton *m_place = nullptr;
    QPushButton *m_sendAgain = nullptr;
    std::optional<OrderRequest> m_unanswered; // sent, no answer: what Send again sends
    QLabel *m_result = nullptr;
    bool m_placingAllowed = true; // by the source
    QString m_whyNot;
    QString m_resultText; // of the last order placed (or "Placing…")
    bool m_resultOk = true;
    bool m_inFlight = false; // placeRequested not answered yet
    QSpinBox *m_perMinute = nullptr;
    QSlider *m_failureMix = nullptr;
    QLabel *m_failureMixLabel = nullptr;
    QPushButton *m_demoButton = nullptr;
};
