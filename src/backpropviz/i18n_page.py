"""The interactive page's texts (keys ``page_*``), part of the one catalogue: ``i18n`` merges them
into ``CATALOGUE``. The page receives them without the prefix (``page_play`` -> ``play``) and
fills ``{fields}`` itself."""

PAGE = {
    "page_page_title": {"en": "backpropviz: watch it learn", "ja": "backpropviz: 学習の様子を見る"},
    "page_run_line": {"en": "{data} · {model} · {loss} · {optimizer} lr {lr} · {epochs} epochs · {batch} · {steps} steps",
                      "ja": "{data} · {model} · {loss} · {optimizer} 学習率 {lr} · {epochs} エポック · {batch} · {steps} ステップ"},
    "page_full_batch": {"en": "full batch", "ja": "フルバッチ"},
    "page_batch_of": {"en": "mini-batches of {n}", "ja": "ミニバッチ {n} サンプル"},
    "page_readout": {"en": "step {step} / {last} · epoch {epoch} · loss {loss}",
                     "ja": "ステップ {step} / {last} · エポック {epoch} · 損失 {loss}"},
    "page_play": {"en": "play / pause (space)", "ja": "再生 / 一時停止 (スペース)"},
    "page_step_back": {"en": "one step back (←)", "ja": "1 ステップ戻る (←)"},
    "page_step_forward": {"en": "one step forward (→)", "ja": "1 ステップ進む (→)"},
    "page_speed": {"en": "speed", "ja": "速さ"},
    "page_view_failed": {"en": "this view could not be drawn: {error}", "ja": "この表示は描けなかった: {error}"},
    "page_thinned": {"en": "This page keeps {kept} of the run's {total} steps (evenly spread, the first and the last included); "
                           "the step numbers shown are the run's own.",
                     "ja": "このページは全 {total} ステップのうち {kept} ステップを残している (等間隔、最初と最後を含む)。"
                           "表示するステップ番号は元の実行のもの。"},
    "page_status_diverged": {"en": "The run diverged: the page shows the steps before the loss stopped being finite.",
                             "ja": "この実行は発散した: 損失が有限でなくなる前のステップを表示している。"},
    "page_status_interrupted": {"en": "The run was interrupted: the page shows the steps recorded before that.",
                                "ja": "この実行は中断された: それまでに記録したステップを表示している。"},
    "page_omit_boundary": {"en": "Left out: the decision boundary needs two input features (this run has {n}).",
                           "ja": "省略: 決定境界の表示には入力特徴が 2 つ必要 (この実行は {n} 個)。"},
    "page_omit_network": {"en": "Left out: the network diagram needs a chain of linear layers.",
                          "ja": "省略: ネットワーク図は線形層の連なりにだけ描ける。"},
    "page_omit_graph": {"en": "Left out: the computation graph (no step was traced).",
                        "ja": "省略: 計算グラフ (トレースしたステップがない)。"},
    "page_omit_chain": {"en": "Left out: the chain-rule table is written for the perceptron (w1, w2, b); the computation graph shows this model's backward pass.",
                        "ja": "省略: 連鎖律の表はパーセプトロン (w1, w2, b) 用。このモデルの逆伝播は計算グラフで見られる。"},
    "page_view_boundary": {"en": "Data and decision boundary", "ja": "データと決定境界"},
    "page_view_params": {"en": "Parameters over time", "ja": "パラメータの推移"},
    "page_view_loss": {"en": "Loss and accuracy", "ja": "損失と正解率"},
    "page_view_surface": {"en": "Loss surface and path", "ja": "損失曲面と学習の経路"},
    "page_view_surface3d": {"en": "Loss surface in 3D (drag to rotate)", "ja": "損失曲面の 3D 表示 (ドラッグで回転)"},
    "page_view_network": {"en": "Network and its weights", "ja": "ネットワークと重み"},
    "page_view_graph": {"en": "Computation graph of this step: forward values and gradients",
                        "ja": "このステップの計算グラフ: 順伝播の値と勾配"},
    "page_view_chain": {"en": "Chain rule of this step, per sample", "ja": "このステップの連鎖律 (サンプルごと)"},
    "page_view_update": {"en": "Update of this step", "ja": "このステップの更新"},
}
