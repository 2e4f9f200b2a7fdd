"""Questioning trained networks: saliency maps, activation maximisation and adversarial
examples as pure JAX functions (gradients.py, attacks.py), the pictures of them
(pictures.py), and the trained network, data and valid input range they work on
(target.py). `nndsl explain`, `nndsl attack` and adversarial training
(`adversarial = fgsm(eps=...)` in a train section, nndsl/fit/adversarial.py) use them.
"""
